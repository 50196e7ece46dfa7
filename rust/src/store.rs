//! Object stores built from a URL and options, and the identity that names a store without secrets.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::list::{PaginatedListOptions, PaginatedListResult, PaginatedListStore};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    BackoffConfig, ClientOptions, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    RetryConfig,
};
use url::Url;

use crate::error::CoreError;

mod stall;

/// Everything a store is built from. Secrets live here and nowhere else; `Debug` hides them.
#[derive(Clone)]
pub struct StoreConfig {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub profile: Option<String>,
    pub verify: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: usize,
    pub retry_delay: Duration,
    pub multipart_threshold: u64,
    pub multipart_chunksize: u64,
    pub max_concurrency: usize,
    pub skip_signature: bool,
    /// Forces the S3 protocol for a custom scheme such as `minio://`.
    pub backend: Option<String>,
    /// `bucket.endpoint/key` instead of `endpoint/bucket/key`.
    pub virtual_hosted_style: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            region: None,
            endpoint: None,
            profile: None,
            verify: true,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            multipart_threshold: 64 * 1024 * 1024,
            multipart_chunksize: 16 * 1024 * 1024,
            max_concurrency: 10,
            skip_signature: false,
            backend: None,
            virtual_hosted_style: false,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("profile", &self.profile)
            .field("has_credentials", &self.secret_access_key.is_some())
            .finish_non_exhaustive()
    }
}

/// The concrete backend, kept alongside the `dyn ObjectStore` for what the trait does not offer.
pub enum Backend {
    S3(Arc<S3Store>),
    /// Local files under `root`.
    Local(PathBuf),
    Memory,
}

pub struct CoreStore {
    pub inner: Arc<dyn ObjectStore>,
    pub backend: Backend,
    /// The root as the user wrote its scheme: `s3://bucket`, `minio://bucket`, `file:///dir`.
    pub url: String,
    pub scheme: String,
    pub identity: String,
    pub config: StoreConfig,
}

impl std::fmt::Debug for CoreStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CoreStore({})", self.identity)
    }
}

/// Named in-memory stores shared by the whole process, so `memory://x` means one store everywhere.
fn memory_store(name: &str) -> Arc<InMemory> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(
        stores
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(InMemory::new())),
    )
}

impl CoreStore {
    pub fn new(url: &str, config: StoreConfig) -> Result<Self, CoreError> {
        validate(&config)?;
        let parsed = Url::parse(url).map_err(|err| {
            CoreError::Config(format!(
                "invalid store URL {url:?}: {err} (expected s3://bucket, file:///dir or memory://name)"
            ))
        })?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        let kind = config.backend.clone().unwrap_or_else(|| scheme.clone());
        match kind.as_str() {
            "file" => Self::local(&parsed, config),
            "memory" => {
                let name = format!("{}{}", parsed.host_str().unwrap_or(""), parsed.path());
                let name = name.trim_end_matches('/').to_string();
                Ok(Self {
                    inner: memory_store(&name),
                    backend: Backend::Memory,
                    url: format!("memory://{name}"),
                    identity: format!("memory://{name}"),
                    scheme,
                    config,
                })
            }
            "s3" | "s3a" => Self::s3(&parsed, &scheme, config),
            other => Err(CoreError::Config(format!(
                "unsupported store scheme {other:?} in {url:?}; supported: s3, file, memory \
                 (custom S3-compatible schemes need backend='s3')"
            ))),
        }
    }

    fn local(parsed: &Url, config: StoreConfig) -> Result<Self, CoreError> {
        let root = parsed.to_file_path().map_err(|()| {
            CoreError::Config(format!("{parsed} is not an absolute local directory URL"))
        })?;
        let inner: Arc<dyn ObjectStore> = match fs_prefix(&root) {
            Some(prefix) => Arc::new(PrefixStore::new(LocalFileSystem::new(), prefix)),
            None => Arc::new(LocalFileSystem::new()),
        };
        let url = format!("file://{}", root.to_string_lossy().replace('\\', "/"));
        Ok(Self {
            inner,
            backend: Backend::Local(root),
            identity: url.clone(),
            url,
            scheme: "file".to_string(),
            config,
        })
    }

    fn s3(parsed: &Url, scheme: &str, config: StoreConfig) -> Result<Self, CoreError> {
        let bucket = parsed.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
            CoreError::Config(format!(
                "{parsed} names no bucket (expected {scheme}://bucket)"
            ))
        })?;
        let region = config
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_string());
        let mut client = ClientOptions::new()
            // Stalls, not whole transfers, time out: a 5 GB download may take many minutes. The
            // connector below enforces that; reqwest's read timeout would also cut off a slow upload.
            .with_timeout_disabled()
            .with_connect_timeout(config.connect_timeout)
            .with_pool_max_idle_per_host(config.max_concurrency.max(16))
            .with_allow_invalid_certificates(!config.verify);
        let mut connector = stall::StallConnector {
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            pool_max_idle_per_host: config.max_concurrency.max(16),
            allow_http: false,
            allow_invalid_certificates: !config.verify,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&region)
            .with_skip_signature(config.skip_signature)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: config.retry_delay,
                    max_backoff: config
                        .retry_delay
                        .saturating_mul(16)
                        .max(Duration::from_secs(1)),
                    base: 2.0,
                },
                max_retries: config.max_retries,
                retry_timeout: Duration::from_secs(180),
            });
        if let Some(endpoint) = &config.endpoint {
            let endpoint_url = Url::parse(endpoint).map_err(|err| {
                CoreError::Config(format!(
                    "invalid endpoint {endpoint:?}: {err} (expected http(s)://host[:port])"
                ))
            })?;
            if !matches!(endpoint_url.scheme(), "http" | "https") || endpoint_url.host().is_none() {
                return Err(CoreError::Config(format!(
                    "invalid endpoint {endpoint:?}: expected http(s)://host[:port]"
                )));
            }
            client = client.with_allow_http(endpoint_url.scheme() == "http");
            connector.allow_http = endpoint_url.scheme() == "http";
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
        }
        // S3-compatible services are reached by path unless asked: bucket names need no DNS entries.
        builder = builder.with_virtual_hosted_style_request(config.virtual_hosted_style);
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
        let s3 = builder
            .with_client_options(client)
            .with_http_connector(connector)
            .build()
            .map_err(|err| {
                CoreError::Config(format!("cannot configure {scheme}://{bucket}: {err}"))
            })?;
        let s3 = Arc::new(S3Store {
            inner: Arc::new(s3),
            max_retries: config.max_retries,
            retry_delay: config.retry_delay,
        });
        let identity = format!(
            "s3://{bucket}?endpoint={}&region={region}&profile={}",
            config.endpoint.as_deref().unwrap_or("aws"),
            config.profile.as_deref().unwrap_or(""),
        );
        Ok(Self {
            inner: Arc::clone(&s3) as Arc<dyn ObjectStore>,
            backend: Backend::S3(s3),
            url: format!("{scheme}://{bucket}"),
            scheme: scheme.to_string(),
            identity,
            config,
        })
    }

    /// `scheme://root/key`, for messages.
    pub fn uri(&self, key: &str) -> String {
        if key.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{key}", self.url.trim_end_matches('/'))
        }
    }

    /// The local file behind `key`, for local stores.
    pub fn local_file(&self, key: &Path) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(root) => {
                let mut path = root.clone();
                path.extend(key.parts().map(|part| part.as_ref().to_string()));
                Some(path)
            }
            _ => None,
        }
    }

    /// Maps an `object_store` error onto this store's URI for `key`; a timeout becomes
    /// [`CoreError::Stalled`], which names the configured timeout.
    pub fn err(&self, key: &str) -> impl FnOnce(object_store::Error) -> CoreError + '_ {
        let uri = self.uri(key);
        move |source| {
            if crate::error::is_timeout(&source) {
                CoreError::Stalled {
                    uri,
                    seconds: self.config.timeout.as_secs_f64(),
                    source,
                }
            } else {
                CoreError::store(uri, source)
            }
        }
    }
}

/// An S3 store whose listings survive a response body that breaks off.
///
/// object_store retries a LIST whose request fails or is answered 5xx, but not one whose body is
/// cut short (a dropped connection, a stall past the timeout): the whole listing would fail. Each
/// page is a plain GET, safe to repeat with the same continuation token, so this retries the page
/// with the store's retry settings. Everything else goes straight to [`AmazonS3`].
#[derive(Debug, Clone)]
pub struct S3Store {
    inner: Arc<AmazonS3>,
    max_retries: usize,
    retry_delay: Duration,
}

impl std::fmt::Display for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

/// Whether a LIST failed while its response body was being read (the request itself succeeded).
fn is_broken_list_body(err: &object_store::Error) -> bool {
    std::iter::successors(Some(err as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .any(|e| {
        e.to_string()
            .starts_with("Error getting list response body")
    })
}

impl S3Store {
    async fn page(
        &self,
        prefix: Option<&str>,
        options: PaginatedListOptions,
    ) -> object_store::Result<PaginatedListResult> {
        let mut delay = self.retry_delay;
        let max_delay = self
            .retry_delay
            .saturating_mul(16)
            .max(Duration::from_secs(1));
        let mut retries = 0;
        loop {
            match self.inner.list_paginated(prefix, options.clone()).await {
                Err(err) if retries < self.max_retries && is_broken_list_body(&err) => {
                    retries += 1;
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2).min(max_delay);
                }
                result => return result,
            }
        }
    }

    /// Pages of `prefix/` (the whole bucket for an empty prefix), as object_store's S3 list does.
    fn pages(
        &self,
        prefix: Option<&Path>,
        delimiter: bool,
    ) -> BoxStream<'static, object_store::Result<ListResult>> {
        let prefix = prefix
            .filter(|p| !p.as_ref().is_empty())
            .map(|p| format!("{}{}", p.as_ref(), object_store::path::DELIMITER));
        let store = self.clone();
        futures::stream::try_unfold(Some(None::<String>), move |next| {
            let (store, prefix) = (store.clone(), prefix.clone());
            async move {
                let Some(page_token) = next else {
                    return Ok(None);
                };
                let options = PaginatedListOptions {
                    delimiter: delimiter.then_some(Cow::Borrowed(object_store::path::DELIMITER)),
                    page_token,
                    ..Default::default()
                };
                let page = store.page(prefix.as_deref(), options).await?;
                Ok(Some((page.result, page.page_token.map(Some))))
            }
        })
        .boxed()
    }

    fn objects(
        &self,
        prefix: Option<&Path>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.pages(prefix, false)
            .map_ok(|page| futures::stream::iter(page.objects.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }
}

#[async_trait::async_trait]
impl PaginatedListStore for S3Store {
    async fn list_paginated(
        &self,
        prefix: Option<&str>,
        options: PaginatedListOptions,
    ) -> object_store::Result<PaginatedListResult> {
        self.page(prefix, options).await
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.objects(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        // Left to object_store, which knows where S3 Express lacks start-after.
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut pages = self.pages(prefix, true);
        let mut prefixes = std::collections::BTreeSet::new();
        let mut objects = Vec::new();
        while let Some(page) = pages.try_next().await? {
            prefixes.extend(page.common_prefixes);
            objects.extend(page.objects);
        }
        Ok(ListResult {
            common_prefixes: prefixes.into_iter().collect(),
            objects,
            extensions: Default::default(),
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// The object_store path of a local root (relative to the filesystem root), or None for `/`.
fn fs_prefix(root: &FsPath) -> Option<Path> {
    let text = root.to_string_lossy().replace('\\', "/");
    let trimmed = text.trim_matches('/');
    (!trimmed.is_empty()).then(|| Path::from_iter(trimmed.split('/').filter(|s| !s.is_empty())))
}

fn validate(config: &StoreConfig) -> Result<(), CoreError> {
    const MIN_PART: u64 = 5 * 1024 * 1024;
    if config.multipart_chunksize < MIN_PART {
        return Err(CoreError::Config(format!(
            "multipart_chunksize must be at least 5 MiB, got {}",
            config.multipart_chunksize
        )));
    }
    if config.max_concurrency == 0 {
        return Err(CoreError::Config(
            "max_concurrency must be at least 1".into(),
        ));
    }
    if config.timeout.is_zero() {
        return Err(CoreError::Config("timeout must be positive".into()));
    }
    Ok(())
}

/// Parses a user key into an object_store path, refusing what would change its meaning.
pub fn parse_key(key: &str) -> Result<Path, CoreError> {
    let invalid = |reason: &str| CoreError::InvalidKey {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if key.is_empty() {
        return Err(invalid("a key cannot be empty"));
    }
    if key.starts_with('/') {
        return Err(invalid(
            "a key is relative to the store root and cannot start with '/'",
        ));
    }
    if key.ends_with('/') {
        return Err(invalid("a key names an object and cannot end with '/'"));
    }
    parse_prefix(key)
}

/// Parses a prefix (possibly empty, possibly ending in '/').
pub fn parse_prefix(prefix: &str) -> Result<Path, CoreError> {
    let invalid = |reason: &str| CoreError::InvalidKey {
        key: prefix.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.starts_with('/') {
        return Err(invalid(
            "a key is relative to the store root and cannot start with '/'",
        ));
    }
    if trimmed.is_empty() {
        return Ok(Path::default());
    }
    for segment in trimmed.split('/') {
        match segment {
            "" => return Err(invalid("empty path segment ('//')")),
            "." | ".." => return Err(invalid("'.' and '..' segments are not allowed")),
            _ if segment.chars().any(|c| c.is_control()) => {
                return Err(invalid("control characters (such as NUL) are not allowed"))
            }
            _ => {}
        }
    }
    Path::parse(trimmed).map_err(|err| invalid(&err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_or_mislead_are_refused() {
        for key in ["", "/abs", "a/../b", "a//b", "./a", "a\0b", "dir/"] {
            assert!(parse_key(key).is_err(), "{key:?} should be refused");
        }
        for key in ["a", "a b/c%20d#e?f+g", "ünï/cödé", "x.tar.gz"] {
            assert_eq!(parse_key(key).unwrap().as_ref(), key);
        }
    }

    #[test]
    fn identity_names_endpoint_and_never_secrets() {
        let config = StoreConfig {
            endpoint: Some("http://127.0.0.1:9000".into()),
            access_key_id: Some("AKIDVISIBLE".into()),
            secret_access_key: Some("SUPERSECRET".into()),
            ..StoreConfig::default()
        };
        let store = CoreStore::new("s3://bucket", config).unwrap();
        assert!(store.identity.contains("127.0.0.1:9000"));
        assert!(!store.identity.contains("SUPERSECRET"));
        assert!(!format!("{store:?} {:?}", store.config).contains("SUPERSECRET"));
        let other = CoreStore::new(
            "s3://bucket",
            StoreConfig {
                endpoint: Some("http://127.0.0.1:9001".into()),
                ..StoreConfig::default()
            },
        )
        .unwrap();
        assert_ne!(store.identity, other.identity);
    }

    #[test]
    fn bad_urls_and_options_are_config_errors() {
        assert!(CoreStore::new("gs://bucket", StoreConfig::default()).is_err());
        assert!(CoreStore::new("s3://", StoreConfig::default()).is_err());
        let config = StoreConfig {
            endpoint: Some("localhost:9000".into()),
            ..StoreConfig::default()
        };
        assert!(CoreStore::new("s3://b", config).is_err());
        let config = StoreConfig {
            multipart_chunksize: 1024,
            ..StoreConfig::default()
        };
        assert!(CoreStore::new("memory://", config).is_err());
    }
}
