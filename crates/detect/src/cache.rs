//! The per-message scan cache: the unchanged history of a long conversation
//! is not rescanned on every turn. Keyed by a 128-bit keyed hash of the
//! content and what was scanned for; two generations, so the oldest half is
//! dropped when full instead of the whole cache.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use crate::finding::Finding;

type Generations = (HashMap<u128, Arc<[Finding]>>, HashMap<u128, Arc<[Finding]>>);

pub struct ScanCache {
    keys: (std::collections::hash_map::RandomState, std::collections::hash_map::RandomState),
    inner: Mutex<Generations>,
    /// Entries per generation.
    capacity: usize,
}

impl ScanCache {
    pub fn new(capacity: usize) -> ScanCache {
        ScanCache { keys: Default::default(), inner: Mutex::new(Default::default()), capacity: capacity.max(1) }
    }

    pub fn key(&self, scope: &[u8], content: &str) -> u128 {
        let h = |s: &std::collections::hash_map::RandomState| {
            let mut h = s.build_hasher();
            h.write(scope);
            h.write_u8(0xff);
            h.write(content.as_bytes());
            h.finish()
        };
        (h(&self.keys.0) as u128) << 64 | h(&self.keys.1) as u128
    }

    pub fn get(&self, key: u128) -> Option<Arc<[Finding]>> {
        let mut g = self.inner.lock().unwrap();
        if let Some(v) = g.0.get(&key) {
            return Some(v.clone());
        }
        let v = g.1.remove(&key)?;
        Self::put_locked(&mut g, key, v.clone(), self.capacity);
        Some(v)
    }

    pub fn put(&self, key: u128, v: Arc<[Finding]>) {
        let mut g = self.inner.lock().unwrap();
        Self::put_locked(&mut g, key, v, self.capacity);
    }

    fn put_locked(g: &mut Generations, key: u128, v: Arc<[Finding]>, cap: usize) {
        if g.0.len() >= cap {
            g.1 = std::mem::take(&mut g.0);
        }
        g.0.insert(key, v);
    }
}
