//! Tests of the glob engine: CPython cases, edge cases and seeded comparisons with references.
use super::*;

fn fnmatch(name: &str, pattern: &str) -> bool {
    Segment::compile(pattern).matches(name)
}

fn check(name: &str, pattern: &str, expected: bool) {
    assert_eq!(
        fnmatch(name, pattern),
        expected,
        "fnmatchcase({name:?}, {pattern:?}) should be {expected}"
    );
}

fn glob(pattern: &str, key: &str) -> bool {
    Pattern::new(pattern).unwrap().matches(key)
}

/// The printable ASCII characters CPython's test_fnmatch iterates over.
fn ascii_cases() -> Vec<char> {
    let mut cases: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    cases.extend("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".chars());
    cases
}

#[test]
fn fnmatch_basics() {
    check("abc", "abc", true);
    check("abc", "?*?", true);
    check("abc", "???*", true);
    check("abc", "*???", true);
    check("abc", "???", true);
    check("abc", "*", true);
    check("abc", "ab[cd]", true);
    check("abc", "ab[!de]", true);
    check("abc", "ab[de]", false);
    check("a", "??", false);
    check("a", "b", false);
    check("\\", r"[\]", true);
    check("a", r"[!\]", true);
    check("\\", r"[!\]", false);
    check("foo\nbar", "foo*", true);
    check("foo\nbar\n", "foo*", true);
    check("\nfoo", "foo*", false);
    check("\n", "*", true);
    check("", "*", true);
    check("", "?", false);
    check(".hidden", "*", true);
    check(".hidden", "*hidden", true);
    check("a.tar.gz", "*.gz", true);
    check("a.tar.gz", "*.tar", false);
    check("abcabd", "*ab?", true);
    check("abcabd", "*abc", false);
}

#[test]
fn fnmatch_is_case_sensitive() {
    check("abc", "abc", true);
    check("AbC", "abc", false);
    check("abc", "AbC", false);
    check("AbC", "AbC", true);
    check("A", "[a-z]", false);
    check("usr\\bin", "usr\\bin", true);
    check("usr\\bin", "usr?bin", true);
}

#[test]
fn fnmatch_unicode_is_per_scalar_value() {
    check("é", "?", true);
    check("日本", "??", true);
    check("日本", "?", false);
    check("naïve.txt", "na?ve.*", true);
    check("ü", "[ä-ö]", false);
    check("ö", "[ä-ö]", true);
    check("🦀.rs", "[!a-z].rs", true);
    check("x🦀y", "*🦀*", true);
}

#[test]
fn fnmatch_slow_patterns_stay_fast() {
    let many_a = "a".repeat(50);
    check(&many_a, "*a*a*a*a*a*a*a*a*a*a", true);
    check(&format!("{many_a}b"), "*a*a*a*a*a*a*a*a*a*a", false);
    let long_name = "a".repeat(5000);
    check(&long_name, &"*a".repeat(200), true);
    check(
        &format!("{long_name}b"),
        &format!("{}c", "*a".repeat(200)),
        false,
    );
}

#[test]
fn fnmatch_char_sets() {
    for c in ascii_cases() {
        let s = c.to_string();
        check(&s, "[az]", "az".contains(c));
        check(&s, "[!az]", !"az".contains(c));
        check(&s, "[AZ]", false);
        check(&s, "[!AZ]", true);
        check(&s, "[aa]", c == 'a');
        check(&s, "[^az]", "^az".contains(c));
        check(&s, "[[az]", "[az".contains(c));
        check(&s, "[!]]", c != ']');
    }
    check("[", "[", true);
    check("[]", "[]", true);
    check("[!", "[!", true);
    check("[!]", "[!]", true);
    check("]", "[]]", true);
    check("x", "[]]", false);
    check("]", "[]a]", true);
    check("[", "[[]", true);
    check("&", "[a&&b]", true);
    check("|", "[a||b]", true);
    check("~", "[a~~b]", true);
}

#[test]
fn fnmatch_ranges() {
    for c in ascii_cases() {
        let s = c.to_string();
        check(&s, "[b-d]", "bcd".contains(c));
        check(&s, "[!b-d]", !"bcd".contains(c));
        check(&s, "[b-dx-z]", "bcdxyz".contains(c));
        check(&s, "[!b-dx-z]", !"bcdxyz".contains(c));
        check(&s, "[B-D]", false);
        check(&s, "[!B-D]", true);
        check(&s, "[b-b]", c == 'b');
        check(&s, "[!-#]", !"-#".contains(c));
        check(&s, "[!--.]", !"-.".contains(c));
        check(&s, "[^-`]", "^_`".contains(c));
        check(&s, "[[-^]", r"[\]^".contains(c));
        check(&s, r"[\-^]", r"\]^".contains(c));
        check(&s, "[b-]", "-b".contains(c));
        check(&s, "[!b-]", !"-b".contains(c));
        check(&s, "[-b]", "-b".contains(c));
        check(&s, "[!-b]", !"-b".contains(c));
        check(&s, "[-]", c == '-');
        check(&s, "[!-]", c != '-');
        // A range whose start is above its end is dropped, bounds included.
        check(&s, "[d-b]", false);
        check(&s, "[!d-b]", true);
        check(&s, "[d-bx-z]", "xyz".contains(c));
        check(&s, "[!d-bx-z]", !"xyz".contains(c));
        check(&s, "[d-b^-`]", "^_`".contains(c));
        check(&s, "[d-b[-^]", r"[\]^".contains(c));
        check(&s, "[a--b]", c == 'b');
        check(&s, "[a-b-c]", "abc-".contains(c));
        check(&s, "[--0]", "-./0".contains(c));
    }
    check(",", "[a-z+--A-Z]", true);
    check(".", "[a-z--/A-Z]", true);
    check("/", "[/]", true);
    check("\\", r"[\t]", true);
    check("t", r"[\t]", true);
    check("\t", r"[\t]", false);
    check("a\\b", r"a[\-^]b", true);
    check(r"a[\-^]b", r"a[\-^]b", false);
    check(r"a\b", r"a[Z-\]b", true);
    check("x", "[x", false);
    check("[x", "[x", true);
    check("[x-y", "[x-y", true);
}

/// The tree of CPython's test_pathlib, as object keys (its empty directories cannot exist).
const PATHLIB_TREE: [&str; 5] = [
    "fileA",
    "dirB/fileB",
    "dirC/fileC",
    "dirC/novel.txt",
    "dirC/dirD/fileD",
];

fn select(pattern: &str) -> Vec<&'static str> {
    let pattern = Pattern::new(pattern).unwrap();
    PATHLIB_TREE
        .into_iter()
        .filter(|key| pattern.matches(key))
        .collect()
}

#[test]
fn pathlib_glob_cases() {
    assert_eq!(select("fileA"), ["fileA"]);
    assert!(select("fileB").is_empty());
    assert_eq!(select("dir*/file*"), ["dirB/fileB", "dirC/fileC"]);
    assert_eq!(select("*A"), ["fileA"]);
    assert_eq!(select("*B/*"), ["dirB/fileB"]);
    assert_eq!(select("*/fileB"), ["dirB/fileB"]);
    assert_eq!(select("dirC/*/fileD"), ["dirC/dirD/fileD"]);
    assert_eq!(select("dirC//./dirD/fileD"), ["dirC/dirD/fileD"]);
    assert_eq!(select("./fileA"), ["fileA"]);
}

#[test]
fn pathlib_rglob_cases() {
    assert_eq!(select("**/fileA"), ["fileA"]);
    assert_eq!(select("**/fileB"), ["dirB/fileB"]);
    assert!(select("**/*/fileA").is_empty());
    assert_eq!(select("**/*/fileB"), ["dirB/fileB"]);
    assert_eq!(
        select("**/file*"),
        ["fileA", "dirB/fileB", "dirC/fileC", "dirC/dirD/fileD"]
    );
    assert_eq!(
        select("dirC/**/*"),
        ["dirC/fileC", "dirC/novel.txt", "dirC/dirD/fileD"]
    );
    assert_eq!(select("dirC/**/file*"), ["dirC/fileC", "dirC/dirD/fileD"]);
    assert_eq!(select("dirC/**/*/*"), ["dirC/dirD/fileD"]);
    assert_eq!(select("dirC/**/*.txt"), ["dirC/novel.txt"]);
    assert_eq!(select("dirC/**/*.*"), ["dirC/novel.txt"]);
    assert_eq!(select("**/**/**/fileD"), ["dirC/dirD/fileD"]);
    assert_eq!(select("dirC/**/dirD/**/fileD"), ["dirC/dirD/fileD"]);
}

#[test]
fn trailing_recursive_reaches_files_below_only() {
    assert_eq!(select("**"), PATHLIB_TREE);
    assert_eq!(
        select("dirC/**"),
        ["dirC/fileC", "dirC/novel.txt", "dirC/dirD/fileD"]
    );
    assert!(select("fileA/**").is_empty());
    assert!(select("dirC/fileC/**").is_empty());
    assert_eq!(select("*/dirD/**"), ["dirC/dirD/fileD"]);
    assert!(!glob("a/**", "a"));
    assert!(glob("a/**", "a/b"));
}

#[test]
fn directory_patterns_are_flagged_and_match_directory_paths() {
    let pattern = Pattern::new("dir*/").unwrap();
    assert!(pattern.dirs_only());
    assert!(pattern.matches("dirC"));
    assert!(!pattern.matches("dirC/dirD"));
    let recursive = Pattern::new("dirC/**/").unwrap();
    assert!(recursive.dirs_only());
    assert!(recursive.matches("dirC"));
    assert!(recursive.matches("dirC/dirD"));
    assert!(!recursive.matches("dirB"));
    assert!(!Pattern::new("dirC/**").unwrap().dirs_only());
    assert!(Pattern::new("dirC/./").unwrap().dirs_only());
}

#[test]
fn star_stays_in_one_segment() {
    assert!(!glob("*", "a/b"));
    assert!(!glob("a*", "a/b"));
    assert!(!glob("a?b", "a/b"));
    assert!(!glob("a[/]b", "a/b"));
    assert!(glob("a[/]b", "a[/]b"));
    assert!(glob("*/*", "a/b"));
    assert!(glob("**/*.parquet", "x.parquet"));
    assert!(glob("**/*.parquet", "d/2024/x.parquet"));
    assert!(!glob("**/*.parquet", "d/2024/x.parquet.tmp"));
    assert!(glob("data/**/jan.parquet", "data/jan.parquet"));
    assert!(!glob("data/**/jan.parquet", "datajan.parquet"));
    assert!(!glob("*", ""));
}

#[test]
fn many_recursive_segments_stay_polynomial() {
    let pattern = format!("{}x", "**/a/".repeat(30));
    let key = format!("{}b", "a/".repeat(400));
    assert!(!glob(&pattern, &key));
    let key = format!("{}x", "a/".repeat(400));
    assert!(glob(&pattern, &key));
    assert!(!glob(&pattern, &format!("{}x", "a/".repeat(29))));
}

#[test]
fn errors_name_the_pattern() {
    let cases = [
        ("", "empty"),
        ("/abs/*.csv", "absolute"),
        ("//x", "absolute"),
        (".", "no path segment"),
        ("./", "no path segment"),
        ("a/../b", "'..'"),
        ("..", "'..'"),
        ("a**", "'**' can only be an entire path component"),
        ("a/b**/c", "'**' can only be an entire path component"),
        ("**a", "'**' can only be an entire path component"),
        ("***", "'**' can only be an entire path component"),
        ("x/**.txt", "'**' can only be an entire path component"),
    ];
    for (pattern, reason) in cases {
        let err = Pattern::new(pattern).unwrap_err();
        assert_eq!(err.pattern, pattern);
        assert!(err.reason.contains(reason), "{pattern:?}: {err}");
        assert!(err.to_string().contains(&format!("'{pattern}'")), "{err}");
    }
}

#[test]
fn literal_prefix_cases() {
    let cases = [
        ("a/b/*.csv", "a/b/"),
        ("a/b/c.csv", "a/b/"),
        ("*.csv", ""),
        ("c.csv", ""),
        ("a/*/c.csv", "a/"),
        ("a/b/**", "a/b/"),
        ("a/**/c", "a/"),
        ("**/c", ""),
        ("a//b/./c*", "a/b/"),
        ("a/[bc]/d", "a/"),
        ("a/[b/d", "a/[b/"),
        ("a/b/", "a/"),
        ("日本/*", "日本/"),
    ];
    for (pattern, prefix) in cases {
        assert_eq!(
            Pattern::new(pattern).unwrap().literal_prefix(),
            prefix,
            "{pattern:?}"
        );
    }
}

#[test]
fn literal_patterns_and_segments() {
    for pattern in ["a", "a/b/c.csv", "a//b", "[x", "a/b]", "x/[!/y", "a-b_c.d"] {
        assert!(Pattern::new(pattern).unwrap().is_literal(), "{pattern:?}");
    }
    for pattern in ["*", "a/?", "a/[bc]", "**", "a/**/b", "[]]", "x/[!]]"] {
        assert!(!Pattern::new(pattern).unwrap().is_literal(), "{pattern:?}");
    }
    let pattern = Pattern::new("a/**/**/b*/[x").unwrap();
    let segments = pattern.segments();
    assert_eq!(segments.len(), 4);
    assert_eq!(segments[0], Segment::Literal("a".to_string()));
    assert_eq!(segments[1], Segment::Recursive);
    assert!(matches!(&segments[2], Segment::Wildcard(_)));
    assert_eq!(segments[3], Segment::Literal("[x".to_string()));
    assert!(segments[1].matches("anything"));
    assert!(segments[2].matches("bee") && !segments[2].matches("abe"));
}

// The slow reference: fnmatch.translate's regex, interpreted; pathlib's selectors, walked.

/// What `fnmatch.translate` emits for one piece of a segment.
#[derive(Debug)]
enum RefAtom {
    Star,
    Any,
    Never,
    Lit(char),
    /// The text Python puts between `[` and `]` of a regex class, escapes included.
    RegexClass(String),
}

fn escape_for_class(text: &[char], escape_hyphen: bool) -> String {
    let mut out = String::new();
    for &c in text {
        if c == '\\' || (escape_hyphen && c == '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A line-by-line port of CPython's `fnmatch.translate` (3.11) first pass.
fn ref_translate(pat: &[char]) -> Vec<RefAtom> {
    let n = pat.len();
    let mut res = Vec::new();
    let mut i = 0;
    while i < n {
        let c = pat[i];
        i += 1;
        if c == '*' {
            if !matches!(res.last(), Some(RefAtom::Star)) {
                res.push(RefAtom::Star);
            }
        } else if c == '?' {
            res.push(RefAtom::Any);
        } else if c == '[' {
            let mut j = i;
            if j < n && pat[j] == '!' {
                j += 1;
            }
            if j < n && pat[j] == ']' {
                j += 1;
            }
            while j < n && pat[j] != ']' {
                j += 1;
            }
            if j >= n {
                res.push(RefAtom::Lit('['));
                continue;
            }
            let mut stuff: String;
            if !pat[i..j].contains(&'-') {
                stuff = escape_for_class(&pat[i..j], false);
            } else {
                let mut chunks: Vec<Vec<char>> = Vec::new();
                let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
                loop {
                    let found = (k..j).find(|&x| pat[x] == '-');
                    let Some(hyphen) = found else { break };
                    chunks.push(pat[i..hyphen].to_vec());
                    i = hyphen + 1;
                    k = hyphen + 3;
                }
                let chunk = pat[i..j].to_vec();
                if chunk.is_empty() {
                    chunks.last_mut().unwrap().push('-');
                } else {
                    chunks.push(chunk);
                }
                let mut k = chunks.len() - 1;
                while k > 0 {
                    if chunks[k - 1].last().unwrap() > chunks[k].first().unwrap() {
                        let removed = chunks.remove(k);
                        chunks[k - 1].pop();
                        chunks[k - 1].extend_from_slice(&removed[1..]);
                    }
                    k -= 1;
                }
                stuff = chunks
                    .iter()
                    .map(|chunk| escape_for_class(chunk, true))
                    .collect::<Vec<_>>()
                    .join("-");
            }
            let mut escaped = String::new();
            for c in stuff.chars() {
                if "&~|".contains(c) {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            stuff = escaped;
            i = j + 1;
            if stuff.is_empty() {
                res.push(RefAtom::Never);
            } else if stuff == "!" {
                res.push(RefAtom::Any);
            } else {
                if let Some(rest) = stuff.strip_prefix('!') {
                    stuff = format!("^{rest}");
                } else if stuff.starts_with('^') || stuff.starts_with('[') {
                    stuff = format!("\\{stuff}");
                }
                res.push(RefAtom::RegexClass(stuff));
            }
        } else {
            res.push(RefAtom::Lit(c));
        }
    }
    res
}

/// Whether `c` is in the regex class `[text]`, read the way Python's `re` parser reads it.
fn regex_class_contains(text: &str, c: char) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut member = false;
    let mut first = true;
    let read_item = |i: &mut usize| -> char {
        let c = chars[*i];
        *i += 1;
        if c == '\\' {
            let escaped = chars[*i];
            *i += 1;
            escaped
        } else {
            c
        }
    };
    while i < chars.len() {
        // A `]` opening the class is a member, not its end; fnmatch never emits another.
        assert!(
            first || chars[i] != ']',
            "unescaped ']' inside class {text:?}"
        );
        first = false;
        let low = read_item(&mut i);
        if i + 1 < chars.len() && chars[i] == '-' {
            i += 1;
            let high = read_item(&mut i);
            assert!(low <= high, "bad range in class {text:?}");
            member |= (low..=high).contains(&c);
        } else {
            member |= low == c;
        }
    }
    member != negated
}

fn ref_fnmatch(atoms: &[RefAtom], name: &[char]) -> bool {
    let Some((atom, rest)) = atoms.split_first() else {
        return name.is_empty();
    };
    if let RefAtom::Star = atom {
        return (0..=name.len()).any(|skip| ref_fnmatch(rest, &name[skip..]));
    }
    let Some((&c, name_rest)) = name.split_first() else {
        return false;
    };
    let ok = match atom {
        RefAtom::Any => true,
        RefAtom::Never => false,
        RefAtom::Lit(expected) => *expected == c,
        RefAtom::RegexClass(text) => regex_class_contains(text, c),
        RefAtom::Star => unreachable!("handled above"),
    };
    ok && ref_fnmatch(rest, name_rest)
}

enum RefPart {
    Recursive,
    Name(Vec<RefAtom>),
}

/// The pattern as pathlib's selector chain, or None where `Pattern::new` must refuse it.
fn ref_parse(pattern: &str) -> Option<(Vec<RefPart>, bool)> {
    if pattern.is_empty() || pattern.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." || (part.contains("**") && part != "**") {
            return None;
        }
        parts.push(if part == "**" {
            RefPart::Recursive
        } else {
            RefPart::Name(ref_translate(&part.chars().collect::<Vec<_>>()))
        });
    }
    (!parts.is_empty()).then_some((parts, pattern.ends_with('/')))
}

/// Walks pathlib's selectors over the one path `names`: the prefixes of `names` are
/// directories, and `names` itself is a file, or a directory when `want_dir`. `depth` names the
/// current directory, `names[..depth]`.
fn ref_select(parts: &[RefPart], names: &[Vec<char>], depth: usize, want_dir: bool) -> bool {
    let deepest_dir = if want_dir {
        names.len()
    } else {
        names.len() - 1
    };
    match parts.split_first() {
        None => depth == names.len(),
        Some((RefPart::Recursive, [])) => {
            // The directory itself and everything below it; a file is only ever below.
            if want_dir {
                depth <= names.len()
            } else {
                depth < names.len()
            }
        }
        Some((RefPart::Recursive, rest)) => {
            (depth..=deepest_dir).any(|dir| ref_select(rest, names, dir, want_dir))
        }
        Some((RefPart::Name(atoms), rest)) => {
            depth < names.len()
                && ref_fnmatch(atoms, &names[depth])
                && ref_select(rest, names, depth + 1, want_dir)
        }
    }
}

fn ref_matches(parts: &[RefPart], dirs_only: bool, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    let names: Vec<Vec<char>> = key.split('/').map(|name| name.chars().collect()).collect();
    ref_select(parts, &names, 0, dirs_only)
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn random_text(rng: &mut Rng, alphabet: &[&str], max_len: usize) -> String {
    let len = rng.below(max_len + 1);
    (0..len).map(|_| rng.pick(alphabet)).collect()
}

#[test]
fn fuzz_segments_agree_with_fnmatch_reference() {
    let pattern_alphabet = [
        "a", "b", "c", "z", "-", "!", "^", "[", "]", "*", "?", "\\", "é", "&", "[!", "[]", "-]",
        "b-a", "a-c",
    ];
    let name_alphabet = [
        "a", "b", "c", "z", "-", "!", "^", "[", "]", "\\", "é", "&", "y",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..60_000 {
        let pattern = random_text(&mut rng, &pattern_alphabet, 6);
        let name = random_text(&mut rng, &name_alphabet, 5);
        let pattern_chars: Vec<char> = pattern.chars().collect();
        let name_chars: Vec<char> = name.chars().collect();
        let expected = ref_fnmatch(&ref_translate(&pattern_chars), &name_chars);
        assert_eq!(
            fnmatch(&name, &pattern),
            expected,
            "{pattern:?} vs {name:?}"
        );
    }
}

#[test]
fn fuzz_patterns_agree_with_pathlib_reference() {
    let pattern_alphabet = [
        "a", "b", ".", "*", "?", "[a-b]", "[!a]", "[", "]", "-", "é", "/", "/", "/", "**", "/**/",
        "./",
    ];
    let key_alphabet = ["a", "b", ".", "-", "[", "]", "é", "*", "/", "/"];
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut compiled = 0;
    for _ in 0..60_000 {
        let pattern = random_text(&mut rng, &pattern_alphabet, 7);
        let reference = ref_parse(&pattern);
        let result = Pattern::new(&pattern);
        assert_eq!(
            result.is_ok(),
            reference.is_some(),
            "{pattern:?}: {result:?}"
        );
        let (Ok(compiled_pattern), Some((parts, dirs_only))) = (result, reference) else {
            continue;
        };
        compiled += 1;
        assert_eq!(compiled_pattern.dirs_only(), dirs_only, "{pattern:?}");
        // Keys built from the pattern itself reach the matching branches far more often.
        let derived: String = pattern
            .trim_matches('/')
            .replace("**", "a/b")
            .chars()
            .map(|c| if "*?[]!".contains(c) { 'a' } else { c })
            .collect();
        let random_keys = (0..8).map(|_| random_text(&mut rng, &key_alphabet, 8));
        for key in random_keys.chain([derived]) {
            let matched = compiled_pattern.matches(&key);
            assert_eq!(
                matched,
                ref_matches(&parts, dirs_only, &key),
                "{pattern:?} vs {key:?}"
            );
            let prefix = compiled_pattern.literal_prefix();
            assert!(
                !matched || format!("{key}/").starts_with(&prefix),
                "{pattern:?} vs {key:?}: {prefix:?}"
            );
        }
    }
    assert!(
        compiled > 10_000,
        "the generator must mostly produce valid patterns"
    );
}
