//! One user's rows of a rollup, and each day's totals, for `tally user`: read from the rollup
//! tables by day range (the tables are indexed by day, not user).

use rusqlite::params;

use super::segments::days_from;
use super::{Store, StoreError, quote};
use crate::value::Value;

/// A row of one user: its day and the asked columns.
pub type UserRow = (String, Vec<Value>);

impl Store {
    /// `user`'s rows of `rollup` on the days `first..=last`, in day order: the day, then the
    /// given columns (`None` reads as NULL; decimal text as exact decimals).
    pub fn user_rows(
        &self,
        rollup: &str,
        user: &str,
        (first, last): (&str, &str),
        columns: &[Option<&str>],
    ) -> Result<Vec<UserRow>, StoreError> {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| c.map_or_else(|| "NULL".to_string(), quote))
            .collect();
        let sql = format!(
            "SELECT day, {} {} AND user = ?3 ORDER BY day",
            cols.join(", "),
            days_from(rollup)
        );
        let fail = |e| self.err(format!("reading the rows of a user in `{rollup}`"), e);
        let mut stmt = self.conn.prepare(&sql).map_err(fail)?;
        let mut rows = stmt.query(params![first, last, user]).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let day: String = row.get(0).map_err(fail)?;
            let values = (1..=columns.len())
                .map(|i| row.get_ref(i).map(|v| Value::from_sqlite(v, true)))
                .collect::<rusqlite::Result<Vec<Value>>>()
                .map_err(fail)?;
            out.push((day, values));
        }
        Ok(out)
    }

    /// True when `rollup` has any row of `user`, on any day.
    pub fn has_user(&self, rollup: &str, user: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE user = ?1)",
            quote(rollup)
        );
        self.conn
            .query_row(&sql, [user], |r| r.get(0))
            .map_err(|e| self.err(format!("looking for a user in `{rollup}`"), e))
    }

    /// `measure` of `rollup` summed exactly over all users, per day of `first..=last`.
    pub fn day_totals(
        &self,
        rollup: &str,
        measure: &str,
        (first, last): (&str, &str),
    ) -> Result<Vec<(String, Value)>, StoreError> {
        let sql = format!(
            "SELECT day, tally_sum({}) FROM {} WHERE day BETWEEN ?1 AND ?2 GROUP BY day ORDER BY day",
            quote(measure),
            quote(rollup)
        );
        let fail = |e| self.err(format!("summing `{measure}` of `{rollup}` per day"), e);
        // The exact sum is registered on read-only connections.
        let conn = self.reader()?;
        let mut stmt = conn.prepare(&sql).map_err(fail)?;
        let rows = stmt
            .query_map(params![first, last], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Value::from_sqlite(r.get_ref(1)?, true),
                ))
            })
            .map_err(fail)?;
        rows.collect::<rusqlite::Result<_>>().map_err(fail)
    }
}
