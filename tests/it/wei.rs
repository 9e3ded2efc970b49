//! Wei-sized money: amounts far beyond 28 significant digits (token base units), MySQL's
//! DECIMAL(65,30), PostgreSQL's unconstrained `numeric` with 80 digits, and scores above 7.9e28.
//! The expected numbers are computed here with integer arithmetic on the raw amounts.

use num_bigint::BigInt;

use crate::support::{MyDb, PgDb, Workspace, output};

const DAY: &str = "2026-11-05";

/// `units` at `scale` decimals, written out ("12.34000000").
fn fixed(units: &BigInt, scale: u32) -> String {
    let ten = BigInt::from(10).pow(scale);
    let sign = if units < &BigInt::from(0) { "-" } else { "" };
    let abs = if units < &BigInt::from(0) {
        -units.clone()
    } else {
        units.clone()
    };
    format!(
        "{sign}{}.{:0>width$}",
        &abs / &ten,
        (&abs % &ten).to_string(),
        width = scale as usize
    )
}

/// `100 * part / total` in tenths, half-even, on integers.
fn share(part: &BigInt, total: &BigInt) -> String {
    let p = part * 1000;
    let (mut q, r) = (&p / total, &p % total);
    let twice = &r * 2;
    if &twice > total || (&twice == total && &q % 2 == BigInt::from(1)) {
        q += 1;
    }
    format!("{}.{}", &q / 10, &q % 10)
}

fn units(text: &str, scale: u32) -> BigInt {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = format!("{frac:0<width$}", width = scale as usize);
    format!("{int}{frac}").parse().unwrap()
}

#[test]
fn wei_sized_rewards_and_scores_are_exact() {
    let pg = PgDb::new();
    // Scores: `power` is an unconstrained numeric; heavy needs 1e28 per day.
    pg.exec(&format!(
        "CREATE TABLE actions (signer text, power numeric, block_time timestamptz);
         INSERT INTO actions VALUES
           ('a', 40000000000000000000000000000, '{DAY} 01:00Z'),
           ('a', 40000000000000000000000000000.5, '{DAY} 02:00Z'),
           ('b', 1, '{DAY} 03:00Z'),
           ('e', 12345678901234567890123456789012345678901234567890.123456789012345678901234567890, '{DAY} 04:00Z');"
    ));
    let my = MyDb::new();
    let claims = [
        ("a", "500000000000000000000000000.00000000"),
        ("a", "500000000000000000000000000.00000000"),
        ("b", "100000000000000000000000000000.00000001"),
        ("b", "100000000000000000000000000000.00000001"),
        ("c", "9999999999999999999999999999.99999999"),
        ("e", "0.00000001"),
    ];
    let mut values: Vec<String> = claims
        .iter()
        .enumerate()
        .map(|(i, (w, a))| format!("('{w}', {a}, '{DAY} {:02}:00:00')", i + 1))
        .collect();
    // The largest DECIMAL(65,8), twice, the day before.
    let max = "999999999999999999999999999999999999999999999999999999999.99999999";
    for hour in [1, 2] {
        values.push(format!("('z', {max}, '2026-11-04 {hour:02}:00:00')"));
    }
    my.exec(&format!(
        "CREATE TABLE rewards (wallet VARCHAR(8), amount DECIMAL(65,8), claimed_at DATETIME);
         INSERT INTO rewards VALUES {};
         CREATE TABLE fine (wallet VARCHAR(8), amount DECIMAL(65,30), claimed_at DATETIME);
         INSERT INTO fine VALUES ('a', 12345678901234567890123456789012345.123456789012345678901234567890, '{DAY} 01:00:00'), ('a', 0.000000000000000000000000000001, '{DAY} 02:00:00')",
        values.join(", ")
    ));
    let ws = Workspace::new(&format!(
        r#"
store = "store.sqlite"
[sources.chain]
url = "{}"
[sources.portal]
url = "{}"
[rollups.activity]
source = "chain"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ power = "sum(power)" }}
keep = "3650d"
allow_full_scan = true
[rollups.rewards]
source = "portal"
table = "rewards"
time = "claimed_at"
user = "wallet"
measures = {{ amount = "sum(amount)" }}
slice = "6h"
keep = "3650d"
allow_full_scan = true
[rollups.fine]
source = "portal"
table = "fine"
time = "claimed_at"
user = "wallet"
measures = {{ amount = "sum(amount)" }}
keep = "3650d"
allow_full_scan = true
[segments.power]
rollup = "activity"
score = "power"
window = "1d"
groups = [ {{ name = "heavy", min_score = "10000000000000000000000000000" }}, {{ name = "light", min_score = 0 }} ]
[reports.money]
kind = "segment_rewards"
segment = "power"
rewards = "rewards"
amount = "amount"
days = 1
"#,
        pg.url, my.url
    ));
    let csv = ws.ok(&["report", "--date", DAY, "--format", "csv"]);
    ws.ok(&["sync", "--from", DAY, "--to", DAY]);
    // MariaDB's grouped SUM of two of the largest DECIMAL(65,8) does not fit a DECIMAL: it
    // answers with the largest one, without a warning. The slice fails rather than keep it.
    let (code, text) = output(&ws, &["sync", "--from", "2026-11-04", "--to", "2026-11-04"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("rollup `rewards`")
            && text.contains("slice 2026-11-04")
            && text.contains("measure `amount`")
            && text.contains("the largest DECIMAL of 65 digits"),
        "{text}"
    );
    assert_eq!(
        ws.query("SELECT count(*) FROM rewards WHERE day = '2026-11-04'"),
        ["0"]
    );

    // The oracle: 8-decimal units summed as integers; `e`'s power makes it heavy too.
    let sum = |wallet: &str| -> BigInt {
        claims
            .iter()
            .filter(|(w, _)| *w == wallet)
            .map(|(_, a)| units(a, 8))
            .sum()
    };
    let (a, b, c, e) = (sum("a"), sum("b"), sum("c"), sum("e"));
    let total = &a + &b + &c + &e;
    let heavy = &a + &e;
    let power = units("80000000000000000000000000000.5", 30)
        + units(
            "12345678901234567890123456789012345678901234567890.123456789012345678901234567890",
            30,
        );
    let power = fixed(&power, 30).trim_end_matches('0').to_string();
    let want = [
        // The report date is provisional (the default 2-day lookback).
        "day,segment,users,active,actions,rewarded,rewards,share,provisional".to_string(),
        format!(
            "{DAY},heavy,2,2,{power},2,{},{},true",
            fixed(&heavy, 8),
            share(&heavy, &total)
        ),
        format!(
            "{DAY},light,1,1,1,1,{},{},true",
            fixed(&b, 8),
            share(&b, &total)
        ),
        format!(
            "{DAY},inactive,1,0,0,1,{},{},true",
            fixed(&c, 8),
            share(&c, &total)
        ),
    ];
    assert_eq!(share(&b, &total), "94.8");
    assert_eq!(csv.lines().collect::<Vec<_>>(), want);
    // The store keeps the exact sums and their scale; tally_sum adds them exactly.
    assert_eq!(
        ws.query(&format!(
            "SELECT user, amount FROM rewards WHERE day = '{DAY}' ORDER BY user"
        )),
        [
            format!("a,{}", fixed(&a, 8)),
            format!("b,{}", fixed(&b, 8)),
            format!("c,{}", fixed(&c, 8)),
            format!("e,{}", fixed(&e, 8)),
        ]
    );
    assert_eq!(
        ws.query(&format!(
            "SELECT tally_sum(amount) FROM rewards WHERE day = '{DAY}'"
        )),
        [fixed(&total, 8)]
    );
    assert_eq!(
        ws.query("SELECT amount FROM fine"),
        ["12345678901234567890123456789012345.123456789012345678901234567891"]
    );
    assert_eq!(
        ws.query("SELECT power FROM activity WHERE user = 'e'"),
        ["12345678901234567890123456789012345678901234567890.123456789012345678901234567890"]
    );
}

#[test]
fn a_sum_that_is_not_a_number_names_the_rollup_measure_and_slice() {
    let pg = PgDb::new();
    pg.exec(&format!(
        "CREATE TABLE rewards (wallet text, amount numeric, claimed_at timestamptz);
         INSERT INTO rewards VALUES ('a', 'NaN', '{DAY} 01:00Z'), ('a', 1, '{DAY} 02:00Z');"
    ));
    let ws = Workspace::new(&format!(
        r#"
store = "store.sqlite"
[sources.portal]
url = "{}"
[rollups.rewards]
source = "portal"
table = "rewards"
time = "claimed_at"
user = "wallet"
measures = {{ amount = "sum(amount)" }}
keep = "3650d"
allow_full_scan = true
"#,
        pg.url
    ));
    let (code, text) = output(&ws, &["sync", "--from", DAY, "--to", DAY]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("rollup `rewards`")
            && text.contains("measure `amount`")
            && text.contains("NaN")
            && text.contains(&format!("slice {DAY}")),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}
