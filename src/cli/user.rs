//! `tally user`: one user explained from the store (no sync): their groups, the days they
//! changed, the parts of their score, their rewards.

use super::args::{UserArgs, UserFormat};
use super::{emit, nothing_synced, usage};
use crate::config::Config;
use crate::error::Error;
use crate::report::render::{self, Format};
use crate::report::user::{self, Explained, RewardsOf};
use crate::report::{Body, Report, ReportKind};
use crate::rollup::Agg;
use crate::run;
use crate::store::Store;
use crate::value::{Value, plain};

/// Prints what the store says of one user; an unknown user is an error (exit 1).
pub fn run(config: &Config, a: &UserArgs) -> Result<bool, Error> {
    let segment = match &a.segment {
        Some(name) => config.segments.get(name).ok_or_else(|| {
            let known: Vec<&str> = config.segments.keys().map(String::as_str).collect();
            usage(format!(
                "user --segment: no segment named `{name}` (segments: {})",
                known.join(", ")
            ))
        })?,
        None => config
            .segments
            .values()
            .next()
            .ok_or_else(|| usage("user: the config has no segment"))?,
    };
    if !(1..=366).contains(&a.days) {
        return Err(usage(format!(
            "user --days: {} is out of range: use 1 to 366",
            a.days
        )));
    }
    if !Store::exists(&config.store) {
        return Err(nothing_synced(config, "user"));
    }
    let store = Store::inspect(&config.store)?;
    let activity = &config.rollups[&segment.rollup];
    let rewards = rewards_of(config, &segment.name);
    let known = store.has_table(&activity.name)? && store.has_user(&activity.name, &a.id)?
        || match &rewards {
            Some(r) => store.has_table(&r.rollup.name)? && store.has_user(&r.rollup.name, &a.id)?,
            None => false,
        };
    if !known {
        let lower = a.id.to_lowercase();
        let hint = if lower != a.id
            && store.has_table(&activity.name)?
            && store.has_user(&activity.name, &lower)?
        {
            format!(
                "; `{lower}` is: ids are matched as the rollup's user expression stores them \
                 (`{}`)",
                activity.user
            )
        } else {
            String::new()
        };
        return Err(Error::Runtime(format!(
            "user: `{}` is not in the store (rollup `{}`{}){hint}",
            a.id,
            activity.name,
            rewards
                .as_ref()
                .map_or(String::new(), |r| format!(" or `{}`", r.rollup.name)),
        )));
    }
    let day = run::report_date(config, a.date.date);
    let explained = user::explain(&store, (segment, activity), rewards, &a.id, (day, a.days))?;
    let text = match a.format {
        UserFormat::Json => format!("{:#}\n", explained.json()),
        UserFormat::Text => text(config, &explained, Format::Table),
        UserFormat::Markdown => text(config, &explained, Format::Markdown),
    };
    emit(text.as_bytes(), None)?;
    Ok(true)
}

/// The rewards a report of the segment reads: its rollup, its amount and its claims.
fn rewards_of<'a>(config: &'a Config, segment: &str) -> Option<RewardsOf<'a>> {
    config.reports.values().find_map(|r| {
        let (s, rewards, amount) = match &r.kind {
            ReportKind::SegmentRewards {
                segment,
                rewards,
                amount,
            }
            | ReportKind::TopRewarded {
                segment,
                rewards,
                amount,
                ..
            }
            | ReportKind::PolicyCompare {
                segment,
                rewards,
                amount,
                ..
            }
            | ReportKind::RewardEfficiency {
                segment,
                rewards,
                amount,
            } => (segment, rewards, amount),
            ReportKind::Lifecycle {
                segment,
                rewards: Some((rewards, amount)),
                ..
            } => (segment, rewards, amount),
            _ => return None,
        };
        let rollup = config.rollups.get(rewards).filter(|_| s == segment)?;
        let claims = rollup
            .measures
            .iter()
            .find(|m| m.agg == Agg::Count && m.arg == "*")
            .map(|m| m.name.as_str());
        Some(RewardsOf {
            rollup,
            amount,
            claims,
        })
    })
}

/// The explanation for people: lines, and tables rendered as the reports are.
fn text(config: &Config, e: &Explained, format: Format) -> String {
    let (Some(first), Some(last)) = (e.groups.first().map(|g| g.0), e.groups.last().map(|g| g.0))
    else {
        return String::new();
    };
    let end = if format == Format::Markdown {
        "\n\n"
    } else {
        "\n"
    };
    let mut out = format!(
        "{} in segment {}, {first} to {last}{end}",
        e.user, e.segment
    );
    let groups: Vec<String> = e
        .groups
        .iter()
        .map(|(d, g)| format!("{} {}", d.format("%m-%d"), g.as_deref().unwrap_or("none")))
        .collect();
    out += &format!("groups: {}{end}", groups.join(", "));
    for (day, from, to) in e.changes() {
        out += &format!("{from} → {to} on {day}{end}");
    }
    let window_first = crate::days::days_before(last, e.window - 1);
    out += &format!(
        "score on {last} (window {} days, {window_first} to {last}):{end}",
        e.window
    );
    // The tables are rendered as the reports are.
    let table_of = |columns: Vec<String>, rows: Vec<Vec<Value>>| Report {
        name: "user".into(),
        title: "user".into(),
        first: last,
        last,
        columns,
        rows,
        body: Body::Table,
        style: config.style.clone(),
        definition: String::new(),
    };
    let parts = e.parts.iter().map(|p| {
        let n = |d: &bigdecimal::BigDecimal| Value::from_decimal(d.normalized());
        vec![
            Value::Text(p.value.clone()),
            n(&p.count),
            n(&p.weight),
            n(&p.weighted),
        ]
    });
    let columns = ["value", "count", "weight", "weighted"]
        .map(String::from)
        .to_vec();
    out += &table(&table_of(columns, parts.collect()), format);
    out += &format!("{}{end}", verdict(e));
    if e.rewards.is_empty() {
        out += &format!("rewards: none on these days{end}");
    } else {
        out += &format!("rewards:{end}");
        let (columns, rows) = rewards(e);
        out += &table(&table_of(columns, rows), format);
    }
    out
}

/// "sum 87 / 7 days = score 12.43: light (from 0); heavy needs 15, has 12.43".
fn verdict(e: &Explained) -> String {
    let mut verdict = format!(
        "sum {} / {} days = score {}",
        plain(&e.sum.normalized()),
        e.window,
        plain(&e.score)
    );
    if let Some((group, min)) = &e.threshold {
        verdict += &format!(": {group} (from {})", plain(&min.normalized()));
    }
    if let Some((group, min)) = &e.next {
        verdict += &format!(
            "; {group} needs {}, has {}",
            plain(&min.normalized()),
            plain(&e.score)
        );
    }
    verdict
}

/// The rewards' columns and rows (claims only when the rewards rollup counts them).
fn rewards(e: &Explained) -> (Vec<String>, Vec<Vec<Value>>) {
    let claims = e.rewards.iter().any(|r| r.claims.is_some());
    let mut columns = vec!["day".to_string()];
    if claims {
        columns.push("claims".into());
    }
    columns.extend(["amount".to_string(), "share of the day".to_string()]);
    let rows = e
        .rewards
        .iter()
        .map(|r| {
            let mut row = vec![Value::Text(r.day.to_string())];
            if claims {
                row.push(r.claims.clone().unwrap_or(Value::Null));
            }
            row.extend([Value::Dec(r.amount.clone()), Value::Dec(r.share.clone())]);
            row
        })
        .collect();
    (columns, rows)
}

fn table(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => format!("{}\n", render::render(report, Format::Markdown).trim_end()),
        _ => format!("{}\n", render::table(report)),
    }
}
