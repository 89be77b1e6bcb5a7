//! `limit`/`offset` paging over Rucio's lazy streams: a page reads `offset + limit + 1` entries at
//! most (the extra one tells whether more exist), never the whole list.

use futures_util::{Stream, StreamExt};

/// The largest page a tool returns, whatever `limit` asks: a bigger answer swamps a model's context.
pub const MAX_LIMIT: u64 = 1000;

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub offset: u64,
    pub limit: u64,
    /// Set when more entries follow this page.
    pub next_offset: Option<u64>,
}

impl<T> Page<T> {
    pub fn truncated(&self) -> bool {
        self.next_offset.is_some()
    }

    /// The same page position with other items (e.g. the JSON form of these).
    pub fn with_items<U>(&self, items: Vec<U>) -> Page<U> {
        Page { items, offset: self.offset, limit: self.limit, next_offset: self.next_offset }
    }
}

/// Checked paging arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u64,
}

impl PageRequest {
    /// Validates `limit` (1..=MAX_LIMIT) and `offset` (>= 0).
    pub fn new(limit: i64, offset: i64) -> Result<Self, String> {
        if limit < 1 {
            return Err(format!("`limit` must be at least 1 (got {limit})"));
        }
        if offset < 0 {
            return Err(format!("`offset` must be 0 or more (got {offset})"));
        }
        Ok(Self { offset: offset as u64, limit: (limit as u64).min(MAX_LIMIT) })
    }

    /// Takes one page from a stream, keeping only the items `keep` accepts (filtering happens
    /// before paging, so offsets stay stable).
    pub async fn take<T, E, S>(
        self,
        stream: S,
        mut keep: impl FnMut(&T) -> bool,
    ) -> Result<Page<T>, E>
    where
        S: Stream<Item = Result<T, E>>,
    {
        let mut stream = std::pin::pin!(stream);
        let mut skipped = 0u64;
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item?;
            if !keep(&item) {
                continue;
            }
            if skipped < self.offset {
                skipped += 1;
                continue;
            }
            if items.len() as u64 == self.limit {
                return Ok(Page {
                    items,
                    offset: self.offset,
                    limit: self.limit,
                    next_offset: Some(self.offset + self.limit),
                });
            }
            items.push(item);
        }
        Ok(Page { items, offset: self.offset, limit: self.limit, next_offset: None })
    }

    /// Pages an in-memory list (for the few endpoints that answer with one JSON array).
    pub fn slice<T>(self, all: Vec<T>) -> Page<T> {
        let total = all.len() as u64;
        let items: Vec<T> =
            all.into_iter().skip(self.offset as usize).take(self.limit as usize).collect();
        let end = self.offset + items.len() as u64;
        Page {
            items,
            offset: self.offset,
            limit: self.limit,
            next_offset: (end < total).then_some(end),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn reads_one_past_the_page_only() {
        let pulled = AtomicU64::new(0);
        let stream = futures_util::stream::iter(0..1_000_000u64).map(|i| {
            pulled.fetch_add(1, Ordering::Relaxed);
            Ok::<_, ()>(i)
        });
        let page = PageRequest::new(5, 10).unwrap().take(stream, |_| true).await.unwrap();
        assert_eq!(page.items, vec![10, 11, 12, 13, 14]);
        assert_eq!(page.next_offset, Some(15));
        assert_eq!(pulled.load(Ordering::Relaxed), 16);
    }

    #[tokio::test]
    async fn last_page_and_filter() {
        let stream = futures_util::stream::iter((0..10u64).map(Ok::<_, ()>));
        let page = PageRequest::new(10, 2).unwrap().take(stream, |i| i % 2 == 0).await.unwrap();
        assert_eq!(page.items, vec![4, 6, 8]);
        assert!(!page.truncated());
    }

    #[test]
    fn bad_arguments_and_slices() {
        assert!(PageRequest::new(0, 0).unwrap_err().contains("limit"));
        assert!(PageRequest::new(5, -1).unwrap_err().contains("offset"));
        assert_eq!(PageRequest::new(5_000_000, 0).unwrap().limit, MAX_LIMIT);
        let page = PageRequest::new(2, 1).unwrap().slice(vec!['a', 'b', 'c', 'd']);
        assert_eq!((page.items, page.next_offset), (vec!['b', 'c'], Some(3)));
        let page = PageRequest::new(2, 3).unwrap().slice(vec!['a', 'b', 'c', 'd']);
        assert_eq!((page.items, page.next_offset), (vec!['d'], None));
    }
}
