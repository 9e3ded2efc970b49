//! The SQL fragments of a rollup (`user`, dimensions, measures, `filter`), parsed with
//! sqlparser in the source's dialect. What the checks accepted is what tally sends: the fragment
//! as sqlparser prints it back, so quoting tricks (dollar quotes, `#` comments) cannot make the
//! text that runs differ from the expression that was checked.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, InTarget, Value, visit_expressions,
};
use sqlparser::dialect::Dialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::rollup::Agg;

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

/// Functions that change the session or the server, or write: a slice query must leave both as
/// it found them.
const FORBIDDEN: &[&str] = &[
    "set_config",
    "nextval",
    "setval",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "pg_advisory_unlock",
    "pg_advisory_unlock_all",
    "pg_advisory_unlock_shared",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_promote",
    "pg_create_restore_point",
    "pg_stat_reset",
    "pg_file_write",
    "lo_import",
    "lo_export",
    "lo_unlink",
    "lo_create",
    "lo_put",
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "get_lock",
    "release_lock",
    "release_all_locks",
    "load_extension",
];

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

/// The last part of a function's name, lower case (`pg_catalog.set_config` is `set_config`).
fn name(f: &Function) -> String {
    f.name
        .0
        .last()
        .map(|p| p.to_string().trim_matches(['"', '`']).to_ascii_lowercase())
        .unwrap_or_default()
}

/// What a `user`, dimension or `filter` expression must not contain: aggregates, window
/// functions, subqueries, assignments and functions that change the session.
fn plain(expr: &Expr) -> Result<(), String> {
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
            Expr::Function(f) if FORBIDDEN.contains(&name(f).as_str()) => Some(format!(
                "`{}`, which changes the session or the server (tally only reads)",
                f.name
            )),
            Expr::Function(f) if AGGREGATES.contains(&name(f).as_str()) => Some(format!(
                "the aggregate `{}` (aggregates belong in measures)",
                f.name
            )),
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
    match found {
        ControlFlow::Break(problem) => Err(format!("must not contain {problem}")),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Checks a `user`, dimension or `filter` expression (or an alert's condition) and returns it as
/// it will be sent. The printed text must read back as itself: sqlparser prints a bracketed name
/// holding a `]` without doubling it, and the database would then end the name early and read
/// the rest as more SQL.
pub fn expression(sql: &str, dialect: &dyn Dialect) -> Result<String, String> {
    let expr = parse(sql, dialect)?;
    plain(&expr)?;
    let printed = expr.to_string();
    match parse(&printed, dialect) {
        Ok(again) if again.to_string() == printed => Ok(printed),
        _ => Err(
            "has a quoted name that cannot be sent safely (a closing bracket or quote inside it): rename it or quote it with \"...\""
                .to_string(),
        ),
    }
}

/// Checks a measure: exactly one `count(*)`, `count(expr)`, `sum(expr)`, `min(expr)` or
/// `max(expr)` at the top, without DISTINCT, FILTER, OVER or a nested aggregate, because each
/// slice's and day's values are added up (or compared) with the others'. Returns the aggregate
/// and its argument as it will be sent.
pub fn measure(sql: &str, dialect: &dyn Dialect) -> Result<(Agg, String), String> {
    const RULE: &str = "a measure is one count(*), count(x), sum(x), min(x) or max(x), which tally can add up across slices and days";
    let expr = parse(sql, dialect)?;
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
            plain(e).map_err(|p| format!("the argument of `{expr}` {p}"))?;
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

    const PG: &dyn Dialect = &PostgreSqlDialect {};
    const MY: &dyn Dialect = &MySqlDialect {};

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
        assert!(parse(&sent, MY).is_ok(), "{sent}");
        assert!(sent.contains("Brien"), "{sent}");
    }

    #[test]
    fn tricks_that_end_the_expression_are_refused_or_neutralized() {
        // Dollar quotes are strings: the parentheses inside them do not count, and the ones
        // outside do not balance.
        assert!(expression("$$($$ IS NOT NULL) OR (true OR $$)$$ IS NULL", PG).is_err());
        let sent = expression("x = $$a)b$$", PG).unwrap();
        assert_eq!(parse(&sent, PG).unwrap().to_string(), sent);
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
        // Reading settings and sleeping are fine.
        assert!(expression("pg_sleep(0) IS NOT NULL", PG).is_ok());
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
            "x",
        ] {
            assert!(measure(bad, PG).is_err(), "{bad}");
        }
        let ratio = measure("sum(1) / count(*)", PG).unwrap_err();
        assert!(ratio.contains("SQL report"), "{ratio}");
    }
}
