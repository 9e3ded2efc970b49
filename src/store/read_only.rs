//! User SQL over the store (`sql` reports, alert conditions, `tally query`) may only read. A
//! statement that SQLite does not call read-only (`sqlite3_stmt_readonly`: DELETE, VACUUM, ...)
//! is refused before it runs, and the connection it runs on refuses, through an authorizer, what a
//! read-only statement may still do: attach a file (which `VACUUM INTO` and `ATTACH` would
//! create), set a pragma, or call a function that reaches outside the database.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, Statement};

/// Pragmas that only describe the schema, which user SQL may read (as `PRAGMA table_info(t)` or
/// `pragma_table_info('t')`).
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "function_list",
    "pragma_list",
    "database_list",
];

/// Functions that reach outside the database, should a build of SQLite have them.
const OUTSIDE: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

/// Installs the authorizer on a connection that runs user SQL.
pub fn guard(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.authorizer(Some(decide))
}

fn decide(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Function { function_name } => {
            if OUTSIDE.contains(&function_name.to_ascii_lowercase().as_str()) {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        AuthAction::Pragma { pragma_name, .. }
            if READ_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

/// Refuses a statement that would write.
pub fn refuse_writes(stmt: &Statement<'_>) -> Result<(), String> {
    if stmt.readonly() {
        Ok(())
    } else {
        Err(
            "only reads: this statement would change the store (use SELECT or WITH ... SELECT)"
                .into(),
        )
    }
}
