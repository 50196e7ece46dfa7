//! Pathlib-style glob patterns over `/`-separated object keys.
//!
//! The semantics are those of `pathlib.Path.glob` on POSIX: a pattern is split on `/`; a segment
//! that is exactly `**` matches zero or more whole segments; every other segment is matched against
//! one key segment with the rules of `fnmatch.fnmatchcase` (case-sensitive, `*` also matches
//! leading dots). Matching runs in time polynomial in the sizes of pattern and key: both the
//! characters of a segment and the segments of a key are matched with the two-pointer wildcard
//! algorithm, which never backtracks further than the last star.

use std::error::Error;
use std::fmt;

/// A pattern that cannot be compiled; the message names the pattern and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError {
    pattern: String,
    reason: String,
}

impl GlobError {
    fn new(pattern: &str, reason: impl Into<String>) -> Self {
        Self {
            pattern: pattern.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid glob pattern '{}': {}",
            self.pattern, self.reason
        )
    }
}

impl Error for GlobError {}

/// A bracket expression such as `[a-c]` or `[!x]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CharClass {
    negated: bool,
    chars: Vec<char>,
    ranges: Vec<(char, char)>,
}

impl CharClass {
    /// Compiles the text between `[` and `]` exactly as `fnmatch.translate` does.
    ///
    /// fnmatch splits the text at the hyphens that form ranges: the first chunk reaches at least
    /// one character past the start (two with a leading `!`), later chunks at least two characters
    /// past the hyphen before them, so a hyphen right after `[`, `[!` or another range is literal.
    /// A range whose start is above its end is dropped together with its two bounds, and a trailing
    /// hyphen is literal. With no range left and no character, the class matches nothing (`[!...]`:
    /// anything).
    fn parse(stuff: &[char]) -> Self {
        let mut chunks: Vec<Vec<char>> = Vec::new();
        if stuff.contains(&'-') {
            let mut start = 0;
            let mut search_from = if stuff.first() == Some(&'!') { 2 } else { 1 };
            while let Some(offset) = stuff
                .get(search_from..)
                .and_then(|rest| rest.iter().position(|&c| c == '-'))
            {
                let hyphen = search_from + offset;
                chunks.push(stuff[start..hyphen].to_vec());
                start = hyphen + 1;
                search_from = hyphen + 3;
            }
            match chunks.last_mut() {
                Some(previous) if start == stuff.len() => previous.push('-'),
                _ => chunks.push(stuff[start..].to_vec()),
            }
            for k in (1..chunks.len()).rev() {
                if let (Some(&low), Some(&high)) = (chunks[k - 1].last(), chunks[k].first()) {
                    if low > high {
                        let upper = chunks.remove(k);
                        let lower = &mut chunks[k - 1];
                        lower.pop();
                        lower.extend_from_slice(&upper[1..]);
                    }
                }
            }
        } else {
            chunks.push(stuff.to_vec());
        }

        let negated = chunks[0].first() == Some(&'!');
        if negated {
            chunks[0].remove(0);
        }
        let ranges = chunks
            .windows(2)
            .filter_map(|pair| Some((*pair[0].last()?, *pair[1].first()?)))
            .collect();
        Self {
            negated,
            chars: chunks.concat(),
            ranges,
        }
    }

    fn contains(&self, c: char) -> bool {
        let member = self.chars.contains(&c)
            || self
                .ranges
                .iter()
                .any(|&(low, high)| (low..=high).contains(&c));
        member != self.negated
    }
}

/// One element of a compiled segment; every token but `Star` matches exactly one character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    Class(CharClass),
    Star,
}

impl Token {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Char(expected) => *expected == c,
            Token::AnyChar => true,
            Token::Class(class) => class.contains(c),
            Token::Star => false,
        }
    }
}

/// A compiled segment with at least one `*`, `?` or bracket expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    tokens: Vec<Token>,
}

impl Wildcard {
    /// Whether one whole path segment (a name without `/`) matches, with fnmatchcase semantics.
    pub fn matches(&self, name: &str) -> bool {
        let tokens = &self.tokens;
        let mut token = 0;
        let mut pos = 0;
        // After a mismatch, retry from the token after the last star with that star covering one
        // more character; earlier stars never need to grow because each token has a fixed width.
        let mut resume: Option<(usize, usize)> = None;
        loop {
            let next = name[pos..].chars().next();
            match (tokens.get(token), next) {
                (Some(Token::Star), _) => {
                    if token + 1 == tokens.len() {
                        return true;
                    }
                    token += 1;
                    resume = Some((token, pos));
                    continue;
                }
                (Some(single), Some(c)) if single.matches_char(c) => {
                    token += 1;
                    pos += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            let Some((after_star, star_end)) = resume else {
                return false;
            };
            let Some(c) = name[star_end..].chars().next() else {
                return false;
            };
            token = after_star;
            pos = star_end + c.len_utf8();
            resume = Some((token, pos));
        }
    }
}

/// One `/`-separated part of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A name compared as is (this includes a `[` with no closing `]`).
    Literal(String),
    /// A name with `*`, `?` or `[...]`, matched within one segment.
    Wildcard(Wildcard),
    /// `**`: zero or more whole segments.
    Recursive,
}

impl Segment {
    fn compile(text: &str) -> Segment {
        let pattern: Vec<char> = text.chars().collect();
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut i = 0;
        while i < pattern.len() {
            let c = pattern[i];
            i += 1;
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::AnyChar),
                '[' => {
                    let mut end = i;
                    if pattern.get(end) == Some(&'!') {
                        end += 1;
                    }
                    if pattern.get(end) == Some(&']') {
                        end += 1;
                    }
                    while end < pattern.len() && pattern[end] != ']' {
                        end += 1;
                    }
                    if end < pattern.len() {
                        tokens.push(Token::Class(CharClass::parse(&pattern[i..end])));
                        i = end + 1;
                    } else {
                        tokens.push(Token::Char('['));
                    }
                }
                _ => tokens.push(Token::Char(c)),
            }
        }
        if tokens.iter().all(|token| matches!(token, Token::Char(_))) {
            Segment::Literal(text.to_string())
        } else {
            Segment::Wildcard(Wildcard { tokens })
        }
    }

    /// Whether one path segment (a name without `/`) matches this pattern segment.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Segment::Literal(literal) => literal == name,
            Segment::Wildcard(wildcard) => wildcard.matches(name),
            Segment::Recursive => true,
        }
    }

    /// True for a segment without any wildcard: it matches exactly one name.
    pub fn is_literal(&self) -> bool {
        matches!(self, Segment::Literal(_))
    }
}

/// A compiled glob pattern, relative to a store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
    dirs_only: bool,
    has_recursive: bool,
}

impl Pattern {
    /// Compiles `pattern`.
    ///
    /// Empty segments (`a//b`) and `.` segments are dropped and consecutive `**` collapse into one,
    /// as pathlib does. Refused: an empty or absolute pattern, one with no segment left, a `..`
    /// segment (object keys never contain one, and it must not widen a listing beyond the root) and
    /// `**` mixed with other characters in a segment.
    pub fn new(pattern: &str) -> Result<Pattern, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::new(pattern, "the pattern is empty"));
        }
        if pattern.starts_with('/') {
            return Err(GlobError::new(
                pattern,
                "absolute patterns are not supported; patterns are relative to the store's root",
            ));
        }
        let mut segments = Vec::new();
        for part in pattern.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(GlobError::new(
                        pattern,
                        "'..' segments are not supported: object keys never contain them",
                    ));
                }
                "**" => {
                    if segments.last() != Some(&Segment::Recursive) {
                        segments.push(Segment::Recursive);
                    }
                }
                _ if part.contains("**") => {
                    return Err(GlobError::new(
                        pattern,
                        format!("'**' can only be an entire path component, not part of '{part}'"),
                    ));
                }
                _ => segments.push(Segment::compile(part)),
            }
        }
        if segments.is_empty() {
            return Err(GlobError::new(pattern, "the pattern names no path segment"));
        }
        let has_recursive = segments.contains(&Segment::Recursive);
        Ok(Pattern {
            segments,
            dirs_only: pattern.ends_with('/'),
            has_recursive,
        })
    }

    /// The compiled segments; never empty.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when the pattern ends with `/`: pathlib then selects directories only.
    pub fn dirs_only(&self) -> bool {
        self.dirs_only
    }

    /// Literal leading segments joined with '/' and ending in '/', or "" — the prefix a listing can
    /// be narrowed to (for "a/b/*.csv" -> "a/b/"; for "a/b/c.csv" -> "a/b/"; for "*.csv" -> "").
    pub fn literal_prefix(&self) -> String {
        let parents = &self.segments[..self.segments.len() - 1];
        let mut prefix = String::new();
        for segment in parents {
            let Segment::Literal(name) = segment else {
                break;
            };
            prefix.push_str(name);
            prefix.push('/');
        }
        prefix
    }

    /// True when the whole pattern is literal (no wildcard): one HEAD/exact check suffices.
    pub fn is_literal(&self) -> bool {
        self.segments.iter().all(Segment::is_literal)
    }

    /// Full-key match.
    ///
    /// `key` is read as what the pattern selects: an object (file) key, or a directory path without
    /// its trailing `/` when [`Pattern::dirs_only`] is set. As in pathlib (3.13), a trailing `**`
    /// reaches the files below a directory but never a file at the directory's own path, so for
    /// file keys it covers one or more segments; for directories it also covers zero.
    pub fn matches(&self, key: &str) -> bool {
        if key.is_empty() {
            return false;
        }
        if !self.has_recursive {
            let mut names = key.split('/');
            return self
                .segments
                .iter()
                .all(|segment| names.next().is_some_and(|name| segment.matches(name)))
                && names.next().is_none();
        }
        let names: Vec<&str> = key.split('/').collect();
        let names = if !self.dirs_only && self.segments.last() == Some(&Segment::Recursive) {
            // The last name is the file itself, which the trailing `**` must reach into.
            &names[..names.len() - 1]
        } else {
            &names[..]
        };
        match_segments(&self.segments, names)
    }
}

/// The two-pointer wildcard match one level up: `**` plays the star, other segments match one name.
fn match_segments(segments: &[Segment], names: &[&str]) -> bool {
    let mut segment = 0;
    let mut name = 0;
    let mut resume: Option<(usize, usize)> = None;
    loop {
        match segments.get(segment) {
            Some(Segment::Recursive) => {
                if segment + 1 == segments.len() {
                    return true;
                }
                segment += 1;
                resume = Some((segment, name));
                continue;
            }
            Some(single) if names.get(name).is_some_and(|&n| single.matches(n)) => {
                segment += 1;
                name += 1;
                continue;
            }
            None if name == names.len() => return true,
            _ => {}
        }
        match resume {
            Some((after_recursive, covered)) if covered < names.len() => {
                segment = after_recursive;
                name = covered + 1;
                resume = Some((segment, name));
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests;
