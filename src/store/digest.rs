//! A digest of a slice's rows that does not depend on their order (sources return GROUP BY rows
//! in any order): the sum of a 128-bit hash of each row. A slice pulled again whose digest and row
//! count match the stored ones has the same rows, so the store keeps them, and the cached scores
//! of their day stay valid.
//!
//! Two different sets of rows share a digest with a chance of about 2^-128 for data that is not
//! built to collide. A digest computed by another tally version may differ for the same rows;
//! that only costs one rewrite.

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;

use crate::value::Value;

/// The running digest of a slice's rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    sum: u128,
    rows: u64,
}

/// Fixed seeds: the digest must be the same in every process.
const SEEDS: [u64; 2] = [0x7461_6c6c_795f_6469, 0x6765_7374_5f72_6f77];

impl Digest {
    /// Adds rows.
    pub fn add(&mut self, rows: &[Vec<Value>]) {
        for row in rows {
            let [a, b] = SEEDS.map(|seed| {
                let mut h = FixedState::with_seed(seed).build_hasher();
                for v in row {
                    hash_value(v, &mut h);
                }
                h.finish()
            });
            self.sum = self.sum.wrapping_add((u128::from(a) << 64) | u128::from(b));
            self.rows += 1;
        }
    }

    /// The digest as stored in `_tally_slices.digest`.
    pub fn text(&self) -> String {
        format!("{}:{:032x}", self.rows, self.sum)
    }
}

/// Hashes a cell with its type, so that `1`, `1.0` and `'1'` differ.
fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Int(i) => {
            1u8.hash(h);
            i.hash(h);
        }
        Value::Dec(d) => {
            2u8.hash(h);
            d.to_string().hash(h);
        }
        Value::Float(f) => {
            3u8.hash(h);
            f.to_bits().hash(h);
        }
        Value::Text(t) => {
            4u8.hash(h);
            t.hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[Vec<Value>]) -> String {
        let mut d = Digest::default();
        d.add(rows);
        d.text()
    }

    #[test]
    fn the_same_rows_in_any_order_give_the_same_digest() {
        let a = vec![Value::Text("u1".into()), Value::Int(3)];
        let b = vec![Value::Text("u2".into()), Value::Int(4)];
        assert_eq!(
            digest(&[a.clone(), b.clone()]),
            digest(&[b.clone(), a.clone()])
        );
        assert_ne!(
            digest(&[a.clone(), b.clone()]),
            digest(std::slice::from_ref(&a))
        );
        let changed = vec![Value::Text("u2".into()), Value::Int(5)];
        assert_ne!(digest(&[a.clone(), b]), digest(&[a.clone(), changed]));
        let text = vec![Value::Text("u1".into()), Value::Text("3".into())];
        assert_ne!(digest(&[a]), digest(&[text]));
    }
}
