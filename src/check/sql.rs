//! The SQL fragments of a rollup (`user`, dimensions, measures, `filter`), parsed with
//! sqlparser in the source's dialect. What the checks accepted is what tally sends: the fragment
//! as sqlparser prints it back, so quoting tricks (dollar quotes, `#` comments) cannot make the
//! text that runs differ from the expression that was checked.

use std::ops::ControlFlow;

use sqlparser::ast::Statement;
use sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, InTarget, Value, visit_expressions,
};
use sqlparser::dialect::{Dialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// An aggregate function allowed in a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// `count(*)` or `count(x)`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
}

/// Aggregate functions of the databases tally reads: none may appear outside a measure, and no
/// measure may nest them.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "group_concat",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_arrayagg",
    "json_objectagg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "std",
    "variance",
    "var_pop",
    "var_samp",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "xmlagg",
    "total",
    "any_value",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_count",
    // ClickHouse's own.
    "any",
    "anylast",
    "anyheavy",
    "argmin",
    "argmax",
    "uniq",
    "uniqexact",
    "uniqcombined",
    "uniqhll12",
    "grouparray",
    "groupuniqarray",
    "quantile",
    "quantiles",
    "quantileexact",
    "median",
    "topk",
    "sumif",
    "countif",
    "avgif",
    "minif",
    "maxif",
    "summap",
    "sumwithoverflow",
];

/// How a source's SQL fragments are read: its dialect, and the functions they may call (the
/// driver's list of functions that change nothing and wait for nothing, one lower-case name a
/// line, and the source's `allow_functions`). Anything else is refused: a fragment runs on
/// someone's production database, where reading a file, resetting statistics or sleeping is not
/// tally's to do.
pub struct Fragments<'a> {
    /// The source's dialect.
    pub dialect: &'a dyn Dialect,
    /// The driver's built-in list; `None` checks no function (a source that is not known).
    pub builtin: Option<&'a str>,
    /// The source's `allow_functions`, lower case.
    pub allowed: &'a [String],
    /// The source's name, for the hint that `allow_functions` widens the list; `None` where no
    /// source reads the fragment (an alert's condition).
    pub source: Option<&'a str>,
}

impl Fragments<'_> {
    /// True when a fragment may call `name` (lower case, `schema.name` when qualified): a
    /// qualified name only when `allow_functions` names it.
    fn allows(&self, name: &str) -> bool {
        let Some(builtin) = self.builtin else {
            return true;
        };
        self.allowed.iter().any(|a| a == name)
            || (!name.contains('.') && builtin.lines().any(|l| l.trim() == name))
    }
}

/// Parses `sql` as exactly one expression in the source's dialect.
fn parse(sql: &str, dialect: &dyn Dialect) -> Result<Expr, String> {
    let mut parser = Parser::new(dialect)
        .try_with_sql(sql)
        .map_err(|e| format!("cannot be read as SQL: {e}"))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| format!("is not an SQL expression: {e}"))?;
    match parser.peek_token().token {
        Token::EOF => Ok(expr),
        other => Err(format!(
            "must be one SQL expression, but `{other}` follows `{expr}`"
        )),
    }
}

/// The last part of a function's name, lower case (`pg_catalog.count` is `count`).
fn name(f: &Function) -> String {
    f.name
        .0
        .last()
        .map(|p| p.to_string().trim_matches(['"', '`']).to_ascii_lowercase())
        .unwrap_or_default()
}

/// A function's whole name, lower case, its parts joined by `.` without quotes.
fn full_name(f: &Function) -> String {
    f.name
        .0
        .iter()
        .map(|p| {
            p.to_string()
                .trim_matches(['"', '`', '[', ']'])
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a `user`, dimension or `filter` expression must not contain: aggregates, window
/// functions, subqueries, assignments, and functions that are not on the source's list.
fn plain(expr: &Expr, rules: &Fragments) -> Result<(), String> {
    let mut refused: Vec<String> = Vec::new();
    let found = visit_expressions(expr, |e| {
        let problem = match e {
            Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::In {
                target: InTarget::Subquery(_) | InTarget::Table { .. },
                ..
            } => Some("a subquery (it could read outside the slice's time range)".to_string()),
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => Some("an assignment (`:=` changes the session)".to_string()),
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => Some(format!(
                "the parameter `{}` (nothing is bound to it: write the value)",
                v.value
            )),
            Expr::Function(f) if f.over.is_some() => {
                Some(format!("the window function `{}`", f.name))
            }
            Expr::Function(f) if AGGREGATES.contains(&name(f).as_str()) => Some(format!(
                "the aggregate `{}` (aggregates belong in measures)",
                f.name
            )),
            Expr::Function(f) if !rules.allows(&full_name(f)) => {
                if !refused.contains(&f.name.to_string()) {
                    refused.push(f.name.to_string());
                }
                None
            }
            Expr::Function(f) if matches!(f.args, FunctionArguments::Subquery(_)) => {
                Some("a subquery (it could read outside the slice's time range)".to_string())
            }
            _ => None,
        };
        match problem {
            Some(p) => ControlFlow::Break(p),
            None => ControlFlow::Continue(()),
        }
    });
    if let ControlFlow::Break(problem) = found {
        return Err(format!("must not contain {problem}"));
    }
    if refused.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = refused.iter().map(|f| format!("`{f}`")).collect();
    Err(format!(
        "calls {} {}, which {} not on tally's list of functions that change nothing and wait \
         for nothing{}",
        if names.len() == 1 {
            "the function"
        } else {
            "the functions"
        },
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" },
        rules.source.map_or(String::new(), |s| format!(
            " (if one is safe, name it in sources.{s}.allow_functions)"
        ))
    ))
}

/// Checks a `user`, dimension or `filter` expression (or an alert's condition) and returns it as
/// it will be sent. The printed text must read back as itself: sqlparser prints a bracketed name
/// holding a `]` without doubling it, and the database would then end the name early and read
/// the rest as more SQL.
pub fn expression(sql: &str, rules: &Fragments) -> Result<String, String> {
    let expr = parse(sql, rules.dialect)?;
    plain(&expr, rules)?;
    let printed = expr.to_string();
    match parse(&printed, rules.dialect) {
        Ok(again) if again.to_string() == printed => Ok(printed),
        _ => Err(
            "has a quoted name that cannot be sent safely (a closing bracket or quote inside it): rename it or quote it with \"...\""
                .to_string(),
        ),
    }
}

/// Why an sql report's query is not a read, when it plainly is not: a statement other than a
/// query (`SELECT`, `WITH`, `VALUES`) or a pragma that only reads. A query sqlparser cannot read
/// is left to SQLite, which refuses any statement that writes before it runs.
pub fn writes(sql: &str) -> Option<String> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).ok()?;
    let [statement] = statements.as_slice() else {
        return (statements.len() > 1)
            .then(|| "must be one statement (a report reads one table of rows)".to_string());
    };
    match statement {
        Statement::Query(_) | Statement::Pragma { value: None, .. } => None,
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            Some(format!(
                "only reads: `{head} ...` would change the store (use SELECT or WITH ... SELECT)"
            ))
        }
    }
}

/// Checks a measure: exactly one `count(*)`, `count(expr)`, `sum(expr)`, `min(expr)` or
/// `max(expr)` at the top, without DISTINCT, FILTER, OVER or a nested aggregate, because each
/// slice's and day's values are added up (or compared) with the others'. Returns the aggregate
/// and its argument as it will be sent.
pub fn measure(sql: &str, rules: &Fragments) -> Result<(Agg, String), String> {
    const RULE: &str = "a measure is one count(*), count(x), sum(x), min(x) or max(x), which tally can add up across slices and days";
    let expr = parse(sql, rules.dialect)?;
    let Expr::Function(f) = &expr else {
        return Err(format!(
            "{RULE}; `{expr}` is not (for a ratio or a difference, make each part a measure and divide them in a SQL report)"
        ));
    };
    let agg = match name(f).as_str() {
        "count" => Agg::Count,
        "sum" => Agg::Sum,
        "min" => Agg::Min,
        "max" => Agg::Max,
        other => {
            return Err(format!(
                "{RULE}; `{other}` is not one of them (an average is sum(x) and count(x) as two measures, divided in a SQL report)"
            ));
        }
    };
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return Err(format!("{RULE}, without OVER, FILTER or WITHIN GROUP"));
    }
    let FunctionArguments::List(list) = &f.args else {
        return Err(format!("{RULE}; `{expr}` has no argument list"));
    };
    if list.duplicate_treatment == Some(DuplicateTreatment::Distinct) {
        return Err(format!(
            "{RULE}; DISTINCT cannot be added up across slices (the same value may occur in two slices)"
        ));
    }
    if !list.clauses.is_empty() {
        return Err(format!("{RULE}, without clauses inside the parentheses"));
    }
    let [arg] = list.args.as_slice() else {
        return Err(format!("{RULE}, with exactly one argument"));
    };
    let arg = match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if agg == Agg::Count => "*".to_string(),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
            plain(e, rules).map_err(|p| format!("the argument of `{expr}` {p}"))?;
            e.to_string()
        }
        _ => return Err(format!("{RULE}; `{expr}` has an argument tally cannot use")),
    };
    Ok((agg, arg))
}

#[cfg(test)]
mod tests {
    use super::*;

    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};

    /// A list like the drivers' (theirs are tested in `crate::source::functions`).
    const LIST: &str = "coalesce\ncount\ndate_trunc\nifnull\njson_extract\nlower\nmax\nmin\nnow\nnullif\nsum\ntrim\n";

    const PG: &Fragments = &Fragments {
        dialect: &PostgreSqlDialect {},
        builtin: Some(LIST),
        allowed: &[],
        source: Some("chain"),
    };
    const MY: &Fragments = &Fragments {
        dialect: &MySqlDialect {},
        builtin: Some(LIST),
        allowed: &[],
        source: Some("chain"),
    };

    #[test]
    fn expressions_are_sent_as_checked() {
        assert_eq!(
            expression("type_id <> 'noop' AND (a = 1 OR b = ';--')", PG).unwrap(),
            "type_id <> 'noop' AND (a = 1 OR b = ';--')"
        );
        assert_eq!(expression("lower(signer)", PG).unwrap(), "lower(signer)");
        assert_eq!(expression("x::text", PG).unwrap(), "x::TEXT");
        // A valid MySQL filter with a backslash escape.
        let sent = expression(r"wallet <> 'O\'Brien'", MY).unwrap();
        assert!(parse(&sent, MY.dialect).is_ok(), "{sent}");
        assert!(sent.contains("Brien"), "{sent}");
    }

    #[test]
    fn tricks_that_end_the_expression_are_refused_or_neutralized() {
        // Dollar quotes are strings: the parentheses inside them do not count, and the ones
        // outside do not balance.
        assert!(expression("$$($$ IS NOT NULL) OR (true OR $$)$$ IS NULL", PG).is_err());
        let sent = expression("x = $$a)b$$", PG).unwrap();
        assert_eq!(parse(&sent, PG.dialect).unwrap().to_string(), sent);
        // MySQL `#` comments leave unbalanced parentheses behind.
        assert!(expression("1=1 # (\n) OR (1=1 # )\n", MY).is_err());
        assert!(expression("a = 1) OR (b = 2", PG).is_err());
        assert!(expression("a = 1; DROP TABLE x", PG).is_err());
        assert!(expression("a = 1 -- ", PG).is_ok());
        assert!(expression("lower(x", PG).is_err());
    }

    #[test]
    fn session_changes_subqueries_and_aggregates_are_refused() {
        for bad in [
            "CASE WHEN current_setting('transaction_read_only') = 'on' THEN set_config('default_transaction_read_only','off',false) IS NOT NULL ELSE nextval('s') > 0 END",
            "pg_catalog.set_config('a', 'b', false) IS NULL",
            "(SELECT 1) = 1",
            "EXISTS (SELECT 1 FROM t)",
            "x IN (SELECT y FROM t)",
            "count(*) > 1",
            "row_number() OVER () = 1",
        ] {
            assert!(expression(bad, PG).is_err(), "{bad}");
        }
        assert!(expression("(@x := 1) = 1", MY).is_err());
        assert!(expression("get_lock('x', 1) = 1", MY).is_err());
    }

    #[test]
    fn only_listed_functions_are_called() {
        assert!(expression("lower(signer)", PG).is_ok());
        let e = expression("pg_sleep(1) IS NULL AND lower(x) = upper(x)", PG).unwrap_err();
        assert!(
            e.contains("`pg_sleep`, `upper`") && e.contains("sources.chain.allow_functions"),
            "{e}"
        );
        let widened = &Fragments {
            allowed: &["my_schema.normalize_wallet".to_string(), "pg_sleep".into()],
            ..*PG
        };
        assert!(expression("my_schema.normalize_wallet(w)", widened).is_ok());
        assert!(expression("pg_sleep(0) IS NULL", widened).is_ok());
        assert!(expression("other_schema.normalize_wallet(w)", widened).is_err());
        // A schema in front of a listed name is not the listed function.
        assert!(expression("my_schema.lower(w)", PG).is_err());
        let unknown_source = &Fragments {
            builtin: None,
            ..*PG
        };
        assert!(expression("anything(w)", unknown_source).is_ok());
    }

    #[test]
    fn sql_reports_only_read() {
        for read in [
            "SELECT 1",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "PRAGMA table_info(activity)",
            "SELECT day FROM activity WHERE day BETWEEN :start AND :end",
        ] {
            assert_eq!(writes(read), None, "{read}");
        }
        for write in [
            "DELETE FROM activity",
            "ATTACH 'x.db' AS x",
            "PRAGMA user_version = 3",
            "CREATE TABLE t (x)",
            "SELECT 1; DELETE FROM activity",
        ] {
            assert!(writes(write).is_some(), "{write}");
        }
        // sqlparser does not read VACUUM: SQLite refuses it when the report is prepared.
        assert_eq!(writes("VACUUM INTO '/tmp/copy.db'"), None);
    }

    #[test]
    fn measures_must_add_up() {
        assert_eq!(measure("count(*)", PG).unwrap(), (Agg::Count, "*".into()));
        assert_eq!(
            measure("SUM(amount)", PG).unwrap(),
            (Agg::Sum, "amount".into())
        );
        assert_eq!(measure("max(t)", MY).unwrap(), (Agg::Max, "t".into()));
        for bad in [
            "sum(x) + sum(y)",
            "sum(1) / count(*)",
            "count(DISTINCT x)",
            "avg(x)",
            "sum(count(x))",
            "sum(x) FILTER (WHERE x > 0)",
            "sum(x) OVER ()",
            "sum(*)",
            "sum(x, y)",
            "sum((SELECT 1))",
            "sum(pg_sleep(1))",
            "x",
        ] {
            assert!(measure(bad, PG).is_err(), "{bad}");
        }
        let ratio = measure("sum(1) / count(*)", PG).unwrap_err();
        assert!(ratio.contains("SQL report"), "{ratio}");
    }
}
