//! Small reads for the warnings about configs that run but give wrong numbers
//! (`crate::lint`): a rollup's newest day, a column's values over some days, a few of its users,
//! and how many users of one rollup's day appear in another rollup's days.

use chrono::NaiveDate;
use rusqlite::params;

use super::{Store, StoreError, quote};

impl Store {
    /// The newest day of `rollup` that has a slice in the store.
    pub fn newest_day(&self, rollup: &str) -> Result<Option<NaiveDate>, StoreError> {
        let day: Option<String> = self
            .conn
            .query_row(
                "SELECT max(day) FROM _tally_slices WHERE rollup = ?1",
                [rollup],
                |r| r.get(0),
            )
            .map_err(|e| self.err(format!("reading the days of `{rollup}`"), e))?;
        Ok(day.and_then(|d| d.parse().ok()))
    }

    /// Up to `limit` distinct values of `column` of `rollup` over `[first, last]`, as text.
    pub fn distinct_values(
        &self,
        rollup: &str,
        column: &str,
        (first, last): (NaiveDate, NaiveDate),
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT CAST({} AS TEXT) FROM {} WHERE day BETWEEN ?1 AND ?2 LIMIT ?3",
            quote(column),
            quote(rollup)
        );
        self.strings(
            &sql,
            params![first.to_string(), last.to_string(), limit as i64],
        )
        .map_err(|e| self.err(format!("reading the values of `{rollup}.{column}`"), e))
    }

    /// Up to `n` users of `rollup` over `[first, last]`, as they are stored.
    pub fn some_users(
        &self,
        rollup: &str,
        (first, last): (NaiveDate, NaiveDate),
        n: usize,
    ) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT user FROM (SELECT user FROM {} WHERE day BETWEEN ?1 AND ?2 \
             AND user IS NOT NULL LIMIT 10000) LIMIT ?3",
            quote(rollup)
        );
        self.strings(&sql, params![first.to_string(), last.to_string(), n as i64])
            .map_err(|e| self.err(format!("reading users of `{rollup}`"), e))
    }

    /// How many users `rewards` has on `day`, and how many of them `activity` has over
    /// `[first, last]`.
    pub fn joined_users(
        &self,
        (rewards, day): (&str, NaiveDate),
        (activity, first, last): (&str, NaiveDate, NaiveDate),
    ) -> Result<(u64, u64), StoreError> {
        let sql = format!(
            "SELECT count(*), count(a.user) FROM
               (SELECT DISTINCT user FROM {} WHERE day = ?1 AND user IS NOT NULL) AS r
             LEFT JOIN (SELECT DISTINCT user FROM {} WHERE day BETWEEN ?2 AND ?3) AS a
               ON a.user = r.user",
            quote(rewards),
            quote(activity)
        );
        self.conn
            .query_row(
                &sql,
                params![day.to_string(), first.to_string(), last.to_string()],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| {
                self.err(
                    format!("joining the users of `{rewards}` and `{activity}`"),
                    e,
                )
            })
    }

    fn strings(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<String>> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(params, |r| r.get::<_, Option<String>>(0))?;
        rows.filter_map(|r| r.transpose()).collect()
    }
}
