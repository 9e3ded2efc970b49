//! [`Exact`]: an exact decimal for the per-user arithmetic of scores (hundreds of thousands of
//! additions per report), which stays a plain 64-bit integer and a scale while it fits (18
//! digits: every count, and weighted sums of them) and becomes a [`BigDecimal`] beyond, so that
//! it is as fast and as small (16 bytes) as an integer and never overflows.

use std::cmp::Ordering;

use bigdecimal::{BigDecimal, ToPrimitive};
use num_bigint::BigInt;

/// The largest scale kept small: 10^18 is the largest power of ten an `i64` holds.
const MAX_SCALE: u32 = 18;

/// An exact decimal: `Small(m, s)` is `m × 10^-s`.
#[derive(Debug, Clone)]
pub enum Exact {
    /// A mantissa and a scale (0 to 18).
    Small(i64, u32),
    /// Anything larger.
    Big(Box<BigDecimal>),
}

impl Default for Exact {
    fn default() -> Exact {
        Exact::Small(0, 0)
    }
}

fn pow10(n: u32) -> Option<i64> {
    10i64.checked_pow(n)
}

/// `m × 10^by`, when it fits.
fn scale_up(m: i64, by: u32) -> Option<i64> {
    m.checked_mul(pow10(by)?)
}

impl Exact {
    /// The nearest `f64` (for what is shown, never for what is added up).
    pub fn to_f64(&self) -> f64 {
        match self {
            Exact::Small(m, s) => *m as f64 / 10f64.powi(*s as i32),
            Exact::Big(d) => d.to_f64().unwrap_or(f64::NAN),
        }
    }

    /// A whole number.
    pub fn int(i: i64) -> Exact {
        Exact::Small(i, 0)
    }

    /// From a [`BigDecimal`], small when it fits.
    pub fn from_big(d: &BigDecimal) -> Exact {
        let (int, scale) = d.as_bigint_and_scale();
        if (0..=i64::from(MAX_SCALE)).contains(&scale)
            && let Some(m) = int.to_i64()
        {
            return Exact::Small(m, scale as u32);
        }
        if scale < 0
            && let Some(m) = int
                .to_i64()
                .and_then(|m| scale_up(m, scale.unsigned_abs() as u32))
        {
            return Exact::Small(m, 0);
        }
        Exact::Big(Box::new(d.clone()))
    }

    /// As a [`BigDecimal`].
    pub fn to_big(&self) -> BigDecimal {
        match self {
            Exact::Small(m, s) => BigDecimal::new(BigInt::from(*m), i64::from(*s)),
            Exact::Big(b) => (**b).clone(),
        }
    }

    /// Both at one scale, when they fit small.
    fn aligned(a: (i64, u32), b: (i64, u32)) -> Option<(i64, i64, u32)> {
        let s = a.1.max(b.1);
        Some((scale_up(a.0, s - a.1)?, scale_up(b.0, s - b.1)?, s))
    }

    /// `self + other`.
    pub fn add(&self, other: &Exact) -> Exact {
        if let (Exact::Small(a, sa), Exact::Small(b, sb)) = (self, other)
            && let Some((x, y, s)) = Exact::aligned((*a, *sa), (*b, *sb))
            && let Some(sum) = x.checked_add(y)
        {
            return Exact::Small(sum, s);
        }
        Exact::from_big(&(self.to_big() + other.to_big()))
    }

    /// `self - other`.
    pub fn sub(&self, other: &Exact) -> Exact {
        self.add(&other.neg())
    }

    fn neg(&self) -> Exact {
        match self {
            Exact::Small(m, s) if *m != i64::MIN => Exact::Small(-m, *s),
            other => Exact::from_big(&-other.to_big()),
        }
    }

    /// `self × other`.
    pub fn mul(&self, other: &Exact) -> Exact {
        if let (Exact::Small(a, sa), Exact::Small(b, sb)) = (self, other)
            && sa + sb <= MAX_SCALE
            && let Some(p) = a.checked_mul(*b)
        {
            return Exact::Small(p, sa + sb);
        }
        Exact::from_big(&(self.to_big() * other.to_big()))
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        match self {
            Exact::Small(m, _) => *m == 0,
            Exact::Big(b) => bigdecimal::Zero::is_zero(&**b),
        }
    }

    /// Appends the value to `out`: a tag, then the mantissa and scale (small) or the text.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Exact::Small(m, s) => {
                out.push(0);
                out.extend_from_slice(&m.to_le_bytes());
                out.extend_from_slice(&s.to_le_bytes());
            }
            Exact::Big(b) => {
                let text = b.to_plain_string();
                out.push(1);
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
    }

    /// Reads a value written by [`Exact::encode`]; the value and the bytes after it.
    pub fn decode(bytes: &[u8]) -> Option<(Exact, &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        match tag {
            0 => {
                let (m, rest) = rest.split_first_chunk::<8>()?;
                let (s, rest) = rest.split_first_chunk::<4>()?;
                let s = u32::from_le_bytes(*s);
                (s <= MAX_SCALE).then_some((Exact::Small(i64::from_le_bytes(*m), s), rest))
            }
            1 => {
                let (len, rest) = rest.split_first_chunk::<4>()?;
                let len = u32::from_le_bytes(*len) as usize;
                let text = std::str::from_utf8(rest.get(..len)?).ok()?;
                let d = crate::value::parse_decimal(text)?;
                Some((Exact::Big(Box::new(d)), &rest[len..]))
            }
            _ => None,
        }
    }
}

impl PartialEq for Exact {
    fn eq(&self, other: &Exact) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Exact {}

impl PartialOrd for Exact {
    fn partial_cmp(&self, other: &Exact) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Exact {
    /// By value: 1.0 equals 1.
    fn cmp(&self, other: &Exact) -> Ordering {
        if let (Exact::Small(a, sa), Exact::Small(b, sb)) = (self, other)
            && let Some((x, y, _)) = Exact::aligned((*a, *sa), (*b, *sb))
        {
            return x.cmp(&y);
        }
        self.to_big().cmp(&other.to_big())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse_decimal;

    fn e(s: &str) -> Exact {
        Exact::from_big(&parse_decimal(s).unwrap())
    }

    fn text(x: &Exact) -> String {
        x.to_big().to_plain_string()
    }

    #[test]
    fn small_arithmetic_is_exact_and_keeps_scales() {
        assert_eq!(text(&e("0.10").add(&e("0.2"))), "0.30");
        assert_eq!(text(&e("0.5").mul(&e("3"))), "1.5");
        assert_eq!(text(&e("1").sub(&e("0.25"))), "0.75");
        assert!(e("1.0") == e("1"));
        assert!(e("2") > e("1.99"));
        assert!(matches!(e("1E+3"), Exact::Small(1000, 0)));
    }

    #[test]
    fn beyond_38_digits_it_becomes_big_and_stays_exact() {
        let max = Exact::Small(i64::MAX, 0);
        let sum = max.add(&Exact::int(1));
        assert!(matches!(sum, Exact::Big(_)));
        assert_eq!(text(&sum), "9223372036854775808");
        let wei = e("500000000000000000000000000.000000000000000001");
        assert_eq!(
            text(&wei.mul(&e("2"))),
            "1000000000000000000000000000.000000000000000002"
        );
        assert!(wei.mul(&e("2")) > wei);
        assert_eq!(text(&sum.sub(&Exact::int(1))), i64::MAX.to_string());
        assert_eq!(std::mem::size_of::<Exact>(), 16);
    }

    #[test]
    fn values_survive_their_encoding() {
        for v in [
            e("0"),
            e("-12.50"),
            e("1e40"),
            e("123456789012345678901234567890123456789012.5"),
        ] {
            let mut bytes = Vec::new();
            v.encode(&mut bytes);
            bytes.push(9);
            let (back, rest) = Exact::decode(&bytes).unwrap();
            assert_eq!(text(&back), text(&v));
            assert_eq!(rest, [9]);
        }
        assert!(Exact::decode(&[0, 1, 2]).is_none());
        assert!(Exact::decode(&[7]).is_none());
    }
}
