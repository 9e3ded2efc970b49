//! The SQL fragments of a rollup (`user`, dimensions, measures, `filter`), parsed with
//! sqlparser in the source's dialect. What the checks accepted is what tally sends: the fragment
//! as sqlparser prints it back, so quoting tricks (dollar quotes, `#` comments) cannot make the
//! text that runs differ from the expression that was checked.

use std::ops::ControlFlow;

use sqlparser::ast::Statement;
use sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, DataType, DuplicateTreatment, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, InTarget, ObjectNamePart, Value, visit_expressions,
};
use sqlparser::dialect::{
    ClickHouseDialect, Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;
use sqlparser::tokenizer::Tokenizer;

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
    if dialect.is::<MySqlDialect>() {
        mysql_binary(sql, dialect)?;
    }
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

/// Refuses MySQL's `BINARY x` operator: sqlparser reads `BINARY a = b` as `CAST(a = b AS
/// BINARY)`, where MySQL reads `(BINARY a) = b`, so what was sent would not mean what was
/// written. `CAST(x AS BINARY)`, `CONVERT(x USING binary)` and `COLLATE binary` are fine.
fn mysql_binary(sql: &str, dialect: &dyn Dialect) -> Result<(), String> {
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize() else {
        return Ok(()); // the parser says what is wrong
    };
    let mut previous: Option<&Token> = None;
    for token in tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))) {
        if let Token::Word(w) = token
            && w.keyword == Keyword::BINARY
            && w.quote_style.is_none()
            && !matches!(previous, Some(Token::Word(p)) if matches!(
                p.keyword,
                Keyword::AS | Keyword::USING | Keyword::COLLATE | Keyword::SET
            ))
        {
            return Err(
                "uses the BINARY operator, which tally's SQL reader takes differently from \
                 MySQL: write CAST(x AS BINARY) around the value, or a COLLATE clause"
                    .to_string(),
            );
        }
        previous = Some(token);
    }
    Ok(())
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
/// functions, subqueries, assignments, functions that are not on the source's list, and the
/// ways around that list (quoted function names, operators and types of the database's users,
/// PostgreSQL's `t.f` calls); `text` is the fragment as written.
fn plain(expr: &Expr, rules: &Fragments, text: &str) -> Result<(), String> {
    let mut refused: Vec<String> = Vec::new();
    let found = visit_expressions(expr, |e| {
        if let Expr::Function(f) = e
            && f.over.is_none()
            && !AGGREGATES.contains(&name(f).as_str())
            && !quoted(f)
            && !rules.allows(&full_name(f))
        {
            if !refused.contains(&f.name.to_string()) {
                refused.push(f.name.to_string());
            }
            return ControlFlow::Continue(());
        }
        match refusal(e).or_else(|| dialect_refusal(e, rules, text)) {
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

/// Why `e` may not be part of a fragment in any database.
fn refusal(e: &Expr) -> Option<String> {
    const SUBQUERY: &str = "a subquery (it could read outside the slice's time range)";
    match e {
        Expr::Subquery(_)
        | Expr::Exists { .. }
        | Expr::In {
            target: InTarget::Subquery(_) | InTarget::Table { .. },
            ..
        } => Some(SUBQUERY.to_string()),
        Expr::BinaryOp {
            op: BinaryOperator::Assignment,
            ..
        } => Some("an assignment (`:=` changes the session)".to_string()),
        Expr::BinaryOp {
            op: op @ (BinaryOperator::Custom(_) | BinaryOperator::PGCustomBinaryOperator(_)),
            ..
        } => Some(format!(
            "the operator `{op}` (an operator beyond SQL's own can call a function of the \
             database's users)"
        )),
        Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => Some(format!(
            "the parameter `{}` (nothing is bound to it: write the value)",
            v.value
        )),
        Expr::Function(f) if f.over.is_some() => Some(format!("the window function `{}`", f.name)),
        Expr::Function(f) if AGGREGATES.contains(&name(f).as_str()) => Some(format!(
            "the aggregate `{}` (aggregates belong in measures)",
            f.name
        )),
        Expr::Function(f) if quoted(f) => Some(format!(
            "the quoted function name `{}` (write function names unquoted: a quoted name can \
             reach a function of the database's users)",
            f.name
        )),
        Expr::Function(f) if matches!(f.args, FunctionArguments::Subquery(_)) => {
            Some(SUBQUERY.to_string())
        }
        _ => None,
    }
}

/// Why `e` may not be part of a fragment in the rules' dialect: PostgreSQL reads `t.f` as the
/// call `f(t)` and runs a domain's checks on a cast, ClickHouse reads a name on the right of
/// `IN` as a table and knows its types by their exact spelling.
fn dialect_refusal(e: &Expr, rules: &Fragments, text: &str) -> Option<String> {
    let postgres = rules.dialect.is::<PostgreSqlDialect>();
    let clickhouse = rules.dialect.is::<ClickHouseDialect>();
    match e {
        Expr::CompoundIdentifier(_) | Expr::CompoundFieldAccess { .. } if postgres => {
            Some(format!(
                "the qualified name `{e}` (write the column's name alone: PostgreSQL reads `t.f` as \
             a call of a function f(t) when t has no column f)"
            ))
        }
        Expr::Cast { data_type, .. } if postgres => postgres_type(data_type),
        Expr::Cast { data_type, .. } if clickhouse => {
            let squeeze = |t: &str| t.split_whitespace().collect::<String>();
            (!squeeze(text).contains(&squeeze(&data_type.to_string()))).then(|| {
                format!(
                    "a cast to `{data_type}` in other letters than written (ClickHouse's type \
                     names are case-sensitive): use a conversion function, like toString(x) or \
                     toDecimal128(x, 2)"
                )
            })
        }
        Expr::In {
            target: InTarget::List(items),
            ..
        } if clickhouse
            && items
                .iter()
                .any(|i| matches!(i, Expr::Identifier(_) | Expr::CompoundIdentifier(_))) =>
        {
            Some(
                "a name in an IN list (ClickHouse reads `x IN (t)` as the table t): write \
                 the values"
                    .to_string(),
            )
        }
        _ => None,
    }
}

/// PostgreSQL's own types, as sqlparser leaves them unnamed (`DataType::Custom`).
const POSTGRES_TYPES: &[&str] = &[
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "bpchar",
    "name",
    "oid",
    "citext",
    "timestamptz",
    "timetz",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "money",
    "varbit",
    "xml",
    "serial",
    "bigserial",
    "regclass",
    "regtype",
    "tsvector",
    "tsquery",
];

/// Why a cast to `ty` is refused on PostgreSQL: a type that is not the database's own (a domain
/// runs its CHECK, which may call any function).
fn postgres_type(ty: &DataType) -> Option<String> {
    match ty {
        DataType::Custom(name, _) => {
            let known = match name.0.as_slice() {
                [ObjectNamePart::Identifier(id)] if id.quote_style.is_none() => {
                    POSTGRES_TYPES.contains(&id.value.to_ascii_lowercase().as_str())
                }
                _ => false,
            };
            (!known).then(|| {
                format!(
                    "a cast to `{name}`, which is not one of PostgreSQL's own types (a domain \
                     runs its checks, which can call any function)"
                )
            })
        }
        DataType::Array(ArrayElemTypeDef::SquareBracket(inner, _))
        | DataType::Array(ArrayElemTypeDef::AngleBracket(inner))
        | DataType::Array(ArrayElemTypeDef::Parenthesis(inner)) => postgres_type(inner),
        _ => None,
    }
}

/// True when a part of the function's name is quoted.
fn quoted(f: &Function) -> bool {
    f.name
        .0
        .iter()
        .any(|p| matches!(p, ObjectNamePart::Identifier(id) if id.quote_style.is_some()))
}

/// Checks a `user`, dimension or `filter` expression (or an alert's condition) and returns it as
/// it will be sent. The printed text must read back as itself: sqlparser prints a bracketed name
/// holding a `]` without doubling it, and the database would then end the name early and read
/// the rest as more SQL.
pub fn expression(sql: &str, rules: &Fragments) -> Result<String, String> {
    let expr = parse(sql, rules.dialect)?;
    plain(&expr, rules, sql)?;
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
            plain(e, rules, sql).map_err(|p| format!("the argument of `{expr}` {p}"))?;
            e.to_string()
        }
        _ => return Err(format!("{RULE}; `{expr}` has an argument tally cannot use")),
    };
    Ok((agg, arg))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    const CH: &Fragments = &Fragments {
        dialect: &ClickHouseDialect {},
        builtin: Some("tostring\nlower\n"),
        allowed: &[],
        source: Some("events"),
    };

    /// The ways around the list of functions that an adversarial pass found, each refused:
    /// a quoted name that PostgreSQL calls as another function, an operator or a domain of the
    /// database's users, PostgreSQL's `t.f` call, ClickHouse's `IN (table)`, MySQL's BINARY
    /// (sent as a cast of the whole comparison), and ClickHouse casts sent in other letters.
    #[test]
    fn ways_around_the_list_are_refused() {
        let refused = [
            (PG, "\"LOWER\"(signer)", "quoted function name"),
            (MY, "`lower`(signer)", "quoted function name"),
            (PG, "signer ~~~ 'u1'", "operator `~~~`"),
            (
                PG,
                "signer::checked_text IS NOT NULL",
                "cast to `checked_text`",
            ),
            (PG, "CAST(signer AS \"text\") = 'a'", "cast to `\"text\"`"),
            (
                PG,
                "signer::checked_text[] IS NOT NULL",
                "cast to `checked_text`",
            ),
            (
                PG,
                "actions.evil_attr",
                "qualified name `actions.evil_attr`",
            ),
            (PG, "(actions).evil_attr", "qualified name"),
            (CH, "n IN (system.numbers)", "IN list"),
            (CH, "n IN system.one", "IN list"),
            (CH, "n IN (a, 1)", "IN list"),
            (CH, "CAST(n AS String)", "case-sensitive"),
            (CH, "CAST(n AS Nullable(String)) = 'a'", "case-sensitive"),
            (MY, "BINARY signer = 'A'", "BINARY operator"),
            (MY, "lower(BINARY signer)", "BINARY operator"),
        ];
        for (rules, sql, why) in refused {
            let e = expression(sql, rules).unwrap_err();
            assert!(e.contains(why), "{sql}: {e}");
        }
        let fine = [
            (
                PG,
                "signer::int8 + x::timestamptz::date",
                "signer::INT8 + x::TIMESTAMPTZ::DATE",
            ),
            (PG, "x::int[] IS NULL", "x::INT[] IS NULL"),
            (
                PG,
                "lower(signer) IN ('a', 'b')",
                "lower(signer) IN ('a', 'b')",
            ),
            (CH, "n IN (1, 2)", "n IN (1, 2)"),
            (
                CH,
                "CAST(x AS DECIMAL(38, 2)) > 0",
                "CAST(x AS DECIMAL(38,2)) > 0",
            ),
            (CH, "toString(n)", "toString(n)"),
            (CH, "a.b = 1", "a.b = 1"),
            (
                MY,
                "CAST(signer AS BINARY) = 'A'",
                "CAST(signer AS BINARY) = 'A'",
            ),
            (
                MY,
                "signer = 'A' COLLATE binary",
                "signer = 'A' COLLATE binary",
            ),
            (MY, "a.signer = 'A'", "a.signer = 'A'"),
        ];
        for (rules, sql, sent) in fine {
            assert_eq!(expression(sql, rules).unwrap(), sent, "{sql}");
        }
        // In a measure's argument too.
        let e = measure("sum(\"LOWER\"(x))", PG).unwrap_err();
        assert!(e.contains("quoted function name"), "{e}");
    }

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
