//! Ranking many exact numbers without holding them: values go into a private temporary SQLite
//! file (deleted when it closes; its sorts spill to temporary files too) with a byte key that
//! sorts as the decimals do, and come back in ascending order, bucket by bucket. Used by the
//! reports that need order statistics over every user (score percentiles, top shares, Gini).

use bigdecimal::{BigDecimal, Signed, Zero};
use rusqlite::{Connection, params};

use crate::store::StoreError;
use crate::value::{parse_decimal, plain};

/// Values by bucket, to be read back in order.
pub struct Ranker {
    conn: Connection,
    what: String,
    indexed: bool,
}

impl Ranker {
    /// An empty ranker; `what` names it in errors ("the scores of segment `engagement`").
    pub fn new(what: &str) -> Result<Ranker, StoreError> {
        let fail = |e| failed(what, e);
        let conn = Connection::open("").map_err(fail)?;
        conn.execute_batch(
            "PRAGMA temp_store = FILE; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE ranked (bucket INTEGER NOT NULL, key BLOB NOT NULL, value TEXT NOT NULL);
             BEGIN;",
        )
        .map_err(fail)?;
        Ok(Ranker {
            conn,
            what: what.to_string(),
            indexed: false,
        })
    }

    /// Adds `value` to `bucket`.
    pub fn push(&mut self, bucket: i64, value: &BigDecimal) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO ranked (bucket, key, value) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![bucket, sort_key(value), plain(value)]))
            .map(|_| ())
            .map_err(|e| failed(&self.what, e))
    }

    /// Hands `bucket`'s values to `each` in ascending order, with their rank from 1, until it
    /// returns false.
    pub fn ascending(
        &mut self,
        bucket: i64,
        mut each: impl FnMut(i64, BigDecimal) -> bool,
    ) -> Result<(), StoreError> {
        let what = self.what.clone();
        let fail = |e| failed(&what, e);
        if !self.indexed {
            self.conn
                .execute_batch("COMMIT; CREATE INDEX ranked_order ON ranked (bucket, key);")
                .map_err(fail)?;
            self.indexed = true;
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM ranked WHERE bucket = ?1 ORDER BY key")
            .map_err(fail)?;
        let mut rows = stmt.query([bucket]).map_err(fail)?;
        let mut rank = 0;
        while let Some(row) = rows.next().map_err(fail)? {
            rank += 1;
            let text: String = row.get(0).map_err(fail)?;
            let value = parse_decimal(&text)
                .ok_or_else(|| StoreError::Data(format!("{what}: `{text}` is not a number")))?;
            if !each(rank, value) {
                break;
            }
        }
        Ok(())
    }
}

fn failed(what: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Data(format!("ranking {what} in a temporary file: {e}"))
}

/// A byte key that sorts (as SQLite compares blobs, bytewise) in the order of the decimals: a
/// sign class, then for a positive number its decimal exponent (offset, big-endian) and its
/// digits without trailing zeros; a negative number's bytes are those of its magnitude
/// inverted, with a 0xFF end so that a shorter magnitude sorts after a longer one.
pub fn sort_key(d: &BigDecimal) -> Vec<u8> {
    if d.is_zero() {
        return vec![1];
    }
    let (int, scale) = d.normalized().into_bigint_and_scale();
    let digits = int.magnitude().to_string();
    let exponent = digits.len() as i64 - scale;
    let mut magnitude = Vec::with_capacity(9 + digits.len());
    magnitude.extend_from_slice(&((exponent as u64) ^ (1 << 63)).to_be_bytes());
    magnitude.extend_from_slice(digits.as_bytes());
    if d.is_positive() {
        let mut key = vec![2];
        key.extend(magnitude);
        key
    } else {
        let mut key = vec![0];
        key.extend(magnitude.iter().map(|b| !b));
        key.push(0xFF);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_the_numbers() {
        let values = [
            "-1000",
            "-12.5",
            "-12.05",
            "-12",
            "-0.001",
            "0",
            "0.000",
            "0.001",
            "0.0011",
            "1",
            "1.000",
            "9.99",
            "10",
            "12",
            "12.05",
            "12.5",
            "123456789012345678901234567890",
        ];
        let parse = |s: &&str| parse_decimal(s).unwrap();
        let mut sorted: Vec<BigDecimal> = values.iter().rev().map(parse).collect();
        sorted.sort_by_key(sort_key);
        let mut expected: Vec<BigDecimal> = values.iter().map(parse).collect();
        expected.sort();
        assert_eq!(sorted, expected);
        assert_eq!(sort_key(&parse(&"1.000")), sort_key(&parse(&"1")));
    }

    #[test]
    fn buckets_come_back_in_order() {
        let mut r = Ranker::new("test values").unwrap();
        for (b, v) in [(1, "3"), (0, "2"), (1, "-1"), (1, "2.5"), (0, "1")] {
            r.push(b, &parse_decimal(v).unwrap()).unwrap();
        }
        let mut seen = Vec::new();
        r.ascending(1, |rank, v| {
            seen.push((rank, v.to_string()));
            true
        })
        .unwrap();
        assert_eq!(seen, [(1, "-1".into()), (2, "2.5".into()), (3, "3".into())]);
        let mut first = Vec::new();
        r.ascending(0, |_, v| {
            first.push(v.to_string());
            false
        })
        .unwrap();
        assert_eq!(first, ["1"]);
        r.ascending(7, |_, _| panic!("bucket 7 is empty")).unwrap();
    }
}
