//! Listing: streamed, one level, recursive with parallel fan-out over sub-prefixes, glob, and the
//! one-request lookup of `stem.<ext>` candidates. Local roots are listed by [`local`], which never
//! leaves the root through a symbolic link.

mod local;

use std::borrow::Cow;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::ObjectMeta;

use crate::error::CoreError;
use crate::glob::{Pattern, Segment};
use crate::store::{parse_key, parse_prefix, Backend, CoreStore};
use crate::transfer;

/// How deep the recursive listing splits the tree into sub-prefixes listed concurrently.
const MAX_FAN_OUT_DEPTH: usize = 2;

/// One level below a prefix: objects and sub-prefixes (as keys, no trailing slash).
pub struct Level {
    pub objects: Vec<ObjectMeta>,
    pub prefixes: Vec<String>,
}

fn prefix_arg(prefix: &Path) -> Option<&Path> {
    (!prefix.as_ref().is_empty()).then_some(prefix)
}

/// The recursive listing as the server pages it.
pub fn list_stream(
    store: &CoreStore,
    prefix: &str,
) -> Result<BoxStream<'static, Result<ObjectMeta, CoreError>>, CoreError> {
    let path = parse_prefix(prefix)?;
    if let Backend::Local(root) = &store.backend {
        return Ok(local::list(root.clone(), path.as_ref().to_string()));
    }
    let uri = store.uri(prefix);
    Ok(store
        .inner
        .list(prefix_arg(&path))
        .try_filter(|meta| futures::future::ready(!is_directory_marker(meta)))
        .map_err(move |err| CoreError::store(uri.clone(), err))
        // Below a local *file* there is nothing, as below an S3 key without children.
        .filter(|item| futures::future::ready(!matches!(item, Err(err) if err.is_not_found())))
        // Python may ask for the next chunk after the end was reached.
        .fuse()
        .boxed())
}

/// Some S3-compatible servers (SeaweedFS after deletes, consoles creating "folders") list a
/// directory itself as a zero-byte object without an ETag; it is not an object anyone wrote.
fn is_directory_marker(meta: &ObjectMeta) -> bool {
    meta.size == 0
        && meta
            .e_tag
            .as_deref()
            .is_none_or(|etag| etag.trim_matches('"').is_empty())
}

pub async fn list_dir(store: &CoreStore, prefix: &str) -> Result<Level, CoreError> {
    list_level(store, prefix, "").await
}

/// Objects and sub-prefixes directly under `dir` whose names start with `name_prefix`. On S3 the
/// name prefix narrows the LIST request itself.
async fn list_level(store: &CoreStore, dir: &str, name_prefix: &str) -> Result<Level, CoreError> {
    let path = parse_prefix(dir)?;
    if let Backend::S3(s3) = &store.backend {
        let mut raw_prefix = path.as_ref().to_string();
        if !raw_prefix.is_empty() {
            raw_prefix.push('/');
        }
        raw_prefix.push_str(name_prefix);
        return list_level_paginated(store, s3.as_ref(), dir, &raw_prefix).await;
    }
    let listing = match &store.backend {
        Backend::Local(root) => local::level(root.clone(), path.as_ref().to_string()).await?,
        _ => match store.inner.list_with_delimiter(prefix_arg(&path)).await {
            Ok(listing) => listing,
            Err(err) => {
                let err = store.err(dir)(err);
                if !err.is_not_found() {
                    return Err(err);
                }
                object_store::ListResult {
                    common_prefixes: Vec::new(),
                    objects: Vec::new(),
                    extensions: Default::default(),
                }
            }
        },
    };
    let keep = |key: &str| {
        key.rsplit('/')
            .next()
            .unwrap_or(key)
            .starts_with(name_prefix)
    };
    Ok(Level {
        objects: listing
            .objects
            .into_iter()
            .filter(|meta| keep(meta.location.as_ref()) && !is_directory_marker(meta))
            .collect(),
        prefixes: listing
            .common_prefixes
            .into_iter()
            .map(|prefix| prefix.as_ref().to_string())
            .filter(|prefix| keep(prefix))
            .collect(),
    })
}

async fn list_level_paginated(
    store: &CoreStore,
    s3: &dyn PaginatedListStore,
    dir: &str,
    raw_prefix: &str,
) -> Result<Level, CoreError> {
    let mut level = Level {
        objects: Vec::new(),
        prefixes: Vec::new(),
    };
    let mut page_token = None;
    loop {
        let options = PaginatedListOptions {
            delimiter: Some(Cow::Borrowed("/")),
            page_token,
            ..Default::default()
        };
        let page = s3
            .list_paginated((!raw_prefix.is_empty()).then_some(raw_prefix), options)
            .await
            .map_err(store.err(dir))?;
        level.objects.extend(
            page.result
                .objects
                .into_iter()
                .filter(|meta| !is_directory_marker(meta)),
        );
        level.prefixes.extend(
            page.result
                .common_prefixes
                .into_iter()
                .map(|prefix| prefix.as_ref().to_string()),
        );
        match page.page_token {
            Some(token) => page_token = Some(token),
            None => return Ok(level),
        }
    }
}

/// Every object under `prefix`. On S3 the tree is split by its sub-prefixes, which are listed
/// concurrently; elsewhere one listing is already as fast as the disk.
pub async fn list_recursive(store: &CoreStore, prefix: &str) -> Result<Vec<ObjectMeta>, CoreError> {
    match store.backend {
        Backend::S3(_) => fan_out(store, prefix.trim_end_matches('/').to_string(), 0).await,
        _ => list_stream(store, prefix)?.try_collect().await,
    }
}

fn fan_out(
    store: &CoreStore,
    prefix: String,
    depth: usize,
) -> BoxFuture<'_, Result<Vec<ObjectMeta>, CoreError>> {
    Box::pin(async move {
        let level = list_dir(store, &prefix).await?;
        let mut objects = level.objects;
        let concurrency = store.config.max_concurrency.max(8);
        // A few wide sub-trees split again; many sub-prefixes already fill every connection.
        let split_again = depth + 1 < MAX_FAN_OUT_DEPTH && level.prefixes.len() < concurrency;
        let children: Vec<Vec<ObjectMeta>> = stream::iter(level.prefixes)
            .map(|child| async move {
                if split_again {
                    fan_out(store, child, depth + 1).await
                } else {
                    list_stream(store, &child)?.try_collect().await
                }
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        objects.extend(children.into_iter().flatten());
        Ok(objects)
    })
}

/// Whether at least one object lies under `prefix/`.
pub async fn is_dir(store: &CoreStore, prefix: &str) -> Result<bool, CoreError> {
    let mut stream = list_stream(store, prefix.trim_end_matches('/'))?;
    Ok(stream.try_next().await?.is_some())
}

/// Objects directly in `dir` named `stem` or `stem.<anything>`: one LIST request on S3.
pub async fn find_by_stem(
    store: &CoreStore,
    dir: &str,
    stem: &str,
) -> Result<Vec<ObjectMeta>, CoreError> {
    if stem.is_empty() || stem.contains('/') {
        return Err(CoreError::InvalidKey {
            key: stem.to_string(),
            reason: "a stem is one non-empty path segment".to_string(),
        });
    }
    let level = list_level(store, dir, stem).await?;
    Ok(level
        .objects
        .into_iter()
        .filter(|meta| {
            let name = meta.location.filename().unwrap_or_default();
            name == stem
                || name
                    .strip_prefix(stem)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .collect())
}

/// Deletes every object under `prefix/`, in bulk requests where the backend has them.
pub async fn delete_prefix(store: &CoreStore, prefix: &str) -> Result<usize, CoreError> {
    let objects = list_recursive(store, prefix).await?;
    let count = objects.len();
    let locations = stream::iter(objects.into_iter().map(|meta| Ok(meta.location))).boxed();
    store
        .inner
        .delete_stream(locations)
        .try_collect::<Vec<_>>()
        .await
        .map_err(store.err(prefix))?;
    Ok(count)
}

/// Objects whose keys match `pattern`, listing only what the pattern can reach.
pub async fn glob(store: &CoreStore, pattern: &str) -> Result<Vec<ObjectMeta>, CoreError> {
    let pattern = Pattern::new(pattern)?;
    if pattern.dirs_only() {
        return Ok(Vec::new());
    }
    if pattern.is_literal() {
        // One HEAD answers a pattern without wildcards.
        return match transfer::head(store, &literal_key(&pattern)).await {
            Ok(meta) => Ok(vec![meta]),
            Err(err) if err.is_not_found() => Ok(Vec::new()),
            Err(err) => Err(err),
        };
    }
    let mut found = walk(store, &pattern, String::new(), 0).await?;
    found.sort_by(|a, b| a.location.cmp(&b.location));
    found.dedup_by(|a, b| a.location == b.location);
    Ok(found)
}

fn walk<'a>(
    store: &'a CoreStore,
    pattern: &'a Pattern,
    mut dir: String,
    mut index: usize,
) -> BoxFuture<'a, Result<Vec<ObjectMeta>, CoreError>> {
    Box::pin(async move {
        let segments = pattern.segments();
        let last = segments.len() - 1;
        while index < last {
            let Segment::Literal(name) = &segments[index] else {
                break;
            };
            dir = join(&dir, name);
            index += 1;
        }
        match (&segments[index], index == last) {
            (Segment::Literal(name), _) => {
                let key = join(&dir, name);
                parse_key(&key)?;
                match transfer::head(store, &key).await {
                    Ok(meta) => Ok(vec![meta]),
                    Err(err) if err.is_not_found() => Ok(Vec::new()),
                    Err(err) => Err(err),
                }
            }
            (Segment::Recursive, _) => Ok(list_recursive(store, &dir)
                .await?
                .into_iter()
                .filter(|meta| pattern.matches(meta.location.as_ref()))
                .collect()),
            (segment, true) => Ok(list_dir(store, &dir)
                .await?
                .objects
                .into_iter()
                .filter(|meta| segment.matches(meta.location.filename().unwrap_or_default()))
                .collect()),
            (segment, false) => {
                let level = list_dir(store, &dir).await?;
                let children: Vec<Vec<ObjectMeta>> =
                    stream::iter(level.prefixes.into_iter().filter(|prefix| {
                        segment.matches(prefix.rsplit('/').next().unwrap_or(prefix))
                    }))
                    .map(|child| walk(store, pattern, child, index + 1))
                    .buffer_unordered(store.config.max_concurrency.max(8))
                    .try_collect()
                    .await?;
                Ok(children.into_iter().flatten().collect())
            }
        }
    })
}

/// The key a pattern without wildcards names.
fn literal_key(pattern: &Pattern) -> String {
    let names: Vec<&str> = pattern
        .segments()
        .iter()
        .filter_map(|segment| match segment {
            Segment::Literal(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    names.join("/")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use crate::store::StoreConfig;
    use bytes::Bytes;

    fn store_with(name: &str, keys: &[&str]) -> CoreStore {
        let store = CoreStore::new(&format!("memory://{name}"), StoreConfig::default()).unwrap();
        for key in keys {
            block_on(transfer::put(&store, key, Bytes::from_static(b"x"), false))
                .unwrap()
                .unwrap();
        }
        store
    }

    fn keys(found: Vec<ObjectMeta>) -> Vec<String> {
        let mut keys: Vec<String> = found.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn glob_walks_only_matching_branches() {
        let store = store_with(
            "listing-glob",
            &[
                "a/x.parquet",
                "a/b/y.parquet",
                "a/b/y.csv",
                "c/z.parquet",
                "top.parquet",
            ],
        );
        let found = |p: &str| keys(block_on(glob(&store, p)).unwrap().unwrap());
        assert_eq!(
            found("**/*.parquet"),
            ["a/b/y.parquet", "a/x.parquet", "c/z.parquet", "top.parquet"]
        );
        assert_eq!(found("*/*.parquet"), ["a/x.parquet", "c/z.parquet"]);
        assert_eq!(found("a/*"), ["a/x.parquet"]);
        assert_eq!(found("a/b/y.csv"), ["a/b/y.csv"]);
        assert!(found("a/b/missing.csv").is_empty());
    }

    #[test]
    fn stem_lookup_ignores_longer_names() {
        let store = store_with(
            "listing-stem",
            &[
                "d/config.json",
                "d/config.yaml",
                "d/configs.json",
                "d/config",
                "d/sub/config.json",
            ],
        );
        let found = keys(
            block_on(find_by_stem(&store, "d", "config"))
                .unwrap()
                .unwrap(),
        );
        assert_eq!(found, ["d/config", "d/config.json", "d/config.yaml"]);
    }

    #[test]
    fn listing_below_a_local_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = CoreStore::new(&url, StoreConfig::default()).unwrap();
        block_on(transfer::put(&store, "f", Bytes::from_static(b"x"), false))
            .unwrap()
            .unwrap();
        assert!(block_on(list_recursive(&store, "f/g"))
            .unwrap()
            .unwrap()
            .is_empty());
        assert!(block_on(list_dir(&store, "f/g"))
            .unwrap()
            .unwrap()
            .objects
            .is_empty());
        assert!(block_on(glob(&store, "f/g/**"))
            .unwrap()
            .unwrap()
            .is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn local_listings_never_leave_the_root() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join("[kept] #1")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), b"s").unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("sub/b.txt"), b"b").unwrap();
        std::fs::write(root.join("c.txt#12"), b"an object_store temporary").unwrap();
        symlink(&outside, root.join("link")).unwrap();
        symlink(outside.join("secret.txt"), root.join("secret.txt")).unwrap();
        symlink(root.join("sub"), root.join("inside")).unwrap();
        symlink(root.join("a.txt"), root.join("alias.txt")).unwrap();
        symlink(&root, root.join("sub/loop")).unwrap();
        symlink(dir.path().join("missing"), root.join("broken")).unwrap();
        let url = url::Url::from_directory_path(&root).unwrap();
        let store = CoreStore::new(url.as_str(), StoreConfig::default()).unwrap();

        let recursive = |prefix: &str| block_on(list_recursive(&store, prefix)).unwrap();
        // secret.txt is a file link: listed as reading follows it; link/ is not.
        let everything = ["a.txt", "alias.txt", "secret.txt", "sub/b.txt"];
        assert_eq!(keys(recursive("").unwrap()), everything);
        assert_eq!(
            keys(block_on(glob(&store, "**/*.txt")).unwrap().unwrap()),
            everything
        );
        let top = block_on(list_dir(&store, "")).unwrap().unwrap();
        assert_eq!(keys(top.objects), ["a.txt", "alias.txt", "secret.txt"]);
        let mut prefixes = top.prefixes;
        prefixes.sort();
        assert_eq!(
            prefixes,
            ["[kept] #1", "inside", "sub"],
            "names are kept exactly"
        );
        // A link inside the root may be listed through, but recursion never follows a link.
        assert_eq!(keys(recursive("inside").unwrap()), ["inside/b.txt"]);
        let sub = block_on(list_dir(&store, "sub")).unwrap().unwrap();
        assert_eq!(sub.prefixes, ["sub/loop"]);

        let refused = recursive("link/").unwrap_err();
        assert!(matches!(refused, CoreError::InvalidKey { .. }), "{refused}");
        assert!(block_on(list_dir(&store, "link")).unwrap().is_err());

        let listed = recursive("").unwrap();
        let a = listed.iter().find(|meta| meta.location.as_ref() == "a.txt");
        let head = block_on(transfer::head(&store, "a.txt")).unwrap().unwrap();
        assert_eq!(a.unwrap().e_tag, head.e_tag, "a listing and a HEAD agree");

        assert_eq!(block_on(delete_prefix(&store, "")).unwrap().unwrap(), 4);
        assert!(
            outside.join("secret.txt").exists(),
            "deleting a link leaves its target"
        );
        assert!(
            root.join("sub/loop").exists(),
            "links to directories are left alone"
        );
    }

    #[test]
    fn recursive_listing_and_prefix_delete() {
        let store = store_with("listing-delete", &["p/1", "p/q/2", "p/q/r/3", "pp/4"]);
        assert_eq!(
            keys(block_on(list_recursive(&store, "p")).unwrap().unwrap()).len(),
            3
        );
        assert!(block_on(is_dir(&store, "p/q")).unwrap().unwrap());
        assert!(!block_on(is_dir(&store, "p/none")).unwrap().unwrap());
        assert_eq!(block_on(delete_prefix(&store, "p/")).unwrap().unwrap(), 3);
        assert_eq!(
            keys(block_on(list_recursive(&store, "")).unwrap().unwrap()),
            ["pp/4"]
        );
    }
}
