//! Many small operations in one call, run concurrently, with one result per item in input order.

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use object_store::PutResult;

use crate::error::CoreError;
use crate::progress::Counter;
use crate::store::{parse_key, CoreStore};
use crate::transfer;

/// Small requests are latency-bound: more of them in flight than large transfers would use.
fn batch_concurrency(store: &CoreStore) -> usize {
    store.config.max_concurrency.max(32)
}

pub async fn get_many(store: &CoreStore, keys: Vec<String>) -> Vec<Result<Bytes, CoreError>> {
    stream::iter(keys)
        .map(|key| async move { transfer::get(store, &key).await })
        .buffered(batch_concurrency(store))
        .collect()
        .await
}

pub async fn put_many(
    store: &CoreStore,
    items: Vec<(String, Bytes)>,
) -> Vec<Result<PutResult, CoreError>> {
    stream::iter(items)
        .map(|(key, data)| async move { transfer::put(store, &key, data, false).await })
        .buffered(batch_concurrency(store))
        .collect()
        .await
}

pub async fn delete_many(store: &CoreStore, keys: Vec<String>) -> Vec<Result<(), CoreError>> {
    // Validate every key first so a bad one is reported for itself and the rest still go through.
    let parsed: Vec<Result<_, CoreError>> = keys.iter().map(|key| parse_key(key)).collect();
    stream::iter(parsed.into_iter().zip(keys))
        .map(|(parsed, key)| async move {
            parsed?;
            transfer::delete(store, &key).await
        })
        .buffered(batch_concurrency(store))
        .collect()
        .await
}

/// Copies many objects between two stores (or within one), several at a time, adding every
/// object's bytes to one shared counter so a single progress bar covers the whole batch.
pub async fn copy_many(
    source: &CoreStore,
    destination: &CoreStore,
    pairs: Vec<(String, String)>,
    counter: &Counter,
) -> Vec<Result<PutResult, CoreError>> {
    // Each copy reports its own total; the batch total is known only to the caller.
    let concurrency = batch_concurrency(source).min(batch_concurrency(destination));
    stream::iter(pairs)
        .map(|(from, to)| async move {
            let own = Counter::new();
            let result = transfer::copy_between(source, &from, destination, &to, &own).await;
            counter.add(own.done());
            result
        })
        .buffered(concurrency)
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use crate::store::StoreConfig;

    #[test]
    fn batches_keep_order_and_report_each_failure() {
        let store = CoreStore::new("memory://batch", StoreConfig::default()).unwrap();
        let items: Vec<(String, Bytes)> = (0..100)
            .map(|i| (format!("k/{i}"), Bytes::from(i.to_string())))
            .collect();
        let written = block_on(put_many(&store, items)).unwrap();
        assert!(written.iter().all(Result::is_ok));

        let keys = vec!["k/7".to_string(), "missing".to_string(), "k/42".to_string()];
        let got = block_on(get_many(&store, keys)).unwrap();
        assert_eq!(got[0].as_ref().unwrap(), &Bytes::from("7"));
        assert!(got[1].as_ref().unwrap_err().is_not_found());
        assert_eq!(got[2].as_ref().unwrap(), &Bytes::from("42"));

        let target = CoreStore::new("memory://batch-target", StoreConfig::default()).unwrap();
        let pairs = vec![
            ("k/1".to_string(), "c/1".to_string()),
            ("gone".to_string(), "c/2".to_string()),
        ];
        let counter = Counter::new();
        let copied = block_on(copy_many(&store, &target, pairs, &counter)).unwrap();
        assert!(copied[0].is_ok());
        assert!(copied[1].as_ref().unwrap_err().is_not_found());
        assert_eq!(
            block_on(transfer::get(&target, "c/1")).unwrap().unwrap(),
            Bytes::from("1")
        );
        assert_eq!(counter.done(), 1);

        let deleted = block_on(delete_many(&store, vec!["k/7".into(), "../bad".into()])).unwrap();
        assert!(deleted[0].is_ok());
        assert!(matches!(deleted[1], Err(CoreError::InvalidKey { .. })));
    }
}
