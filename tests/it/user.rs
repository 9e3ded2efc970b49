//! `tally user` against a plain computation from the raw rows (the cross test's PostgreSQL
//! actions and MariaDB rewards): a player who moved between groups, a wallet that only claims,
//! an unknown id and an id written in another case.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::cross::{Action, Reward, ZONE, config, fixture, my_rewards, pg_actions};
use crate::support::{MyDb, PgDb, output};

fn day_of(t: &DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&ZONE).date_naive()
}

fn weight(kind: &str) -> i64 {
    match kind {
        "hack_and_slash22" => 2,
        "daily_reward7" => 0,
        _ => 1,
    }
}

/// The user's counts per kind over the 7 days ending on `day` (without `noop`).
fn window(actions: &[Action], user: &str, day: NaiveDate) -> BTreeMap<&'static str, i64> {
    let mut out = BTreeMap::new();
    for a in actions
        .iter()
        .filter(|a| a.kind != "noop" && a.signer.to_lowercase() == user)
    {
        if (day - Days::new(6)..=day).contains(&day_of(&a.at)) {
            *out.entry(a.kind).or_default() += 1;
        }
    }
    out
}

/// The user's NCG rewards on `day`, and the day's pool.
fn paid(rewards: &[Reward], user: &str, day: NaiveDate) -> (Option<(i64, Decimal)>, Decimal) {
    let ncg = rewards
        .iter()
        .filter(|r| r.currency == "NCG" && day_of(&r.at) == day);
    let pool: Decimal = ncg.clone().map(|r| r.amount).sum();
    let mine: Vec<Decimal> = ncg
        .filter(|r| r.wallet.to_lowercase() == user)
        .map(|r| r.amount)
        .collect();
    let taken = (!mine.is_empty()).then(|| (mine.len() as i64, mine.iter().sum()));
    (taken, pool)
}

fn group(actions: &[Action], rewards: &[Reward], user: &str, day: NaiveDate) -> Json {
    let counts = window(actions, user, day);
    if counts.is_empty() {
        return match paid(rewards, user, day).0 {
            Some(_) => Json::from("inactive"),
            None => Json::Null,
        };
    }
    let sum: i64 = counts.iter().map(|(k, n)| n * weight(k)).sum();
    Json::from(if sum >= 21 { "heavy" } else { "light" })
}

#[test]
fn user_explains_groups_score_and_rewards_like_a_plain_computation() {
    let (actions, rewards) = fixture();
    let (pg, my) = (PgDb::new(), MyDb::new());
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let ws = crate::support::Workspace::new(&config(&pg.url, "UTC", &my.url, "UTC"));
    ws.ok(&["-q", "sync", "--date", "2026-11-15"]);
    let last: NaiveDate = "2026-11-15".parse().unwrap();
    let days: Vec<NaiveDate> = (0..7).rev().map(|k| last - Days::new(k)).collect();
    // A player whose group changes in the week, and a wallet that only claims.
    let users: Vec<String> = (0..40).map(|u| format!("0xabc{u:03}")).collect();
    let moved = users
        .iter()
        .find(|u| {
            let g: Vec<Json> = days
                .iter()
                .map(|d| group(&actions, &rewards, u, *d))
                .collect();
            g.windows(2)
                .any(|w| w[0] != w[1] && !w[0].is_null() && !w[1].is_null())
        })
        .expect("a player who moved")
        .clone();
    for user in [moved.as_str(), "0xabc041"] {
        let out = ws.ok(&["user", user, "--date", "2026-11-15", "--format", "json"]);
        let json: Json = serde_json::from_str(&out).unwrap();
        let groups: Vec<Json> = json["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["group"].clone())
            .collect();
        let want: Vec<Json> = days
            .iter()
            .map(|d| group(&actions, &rewards, user, *d))
            .collect();
        assert_eq!(groups, want, "{user}: {out}");
        // The score's parts on the last day.
        let counts = window(&actions, user, last);
        let parts: BTreeMap<String, (String, String, String)> = json["score"]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap().to_string();
                (s("value"), (s("count"), s("weight"), s("weighted")))
            })
            .collect();
        let want: BTreeMap<String, (String, String, String)> = counts
            .iter()
            .map(|(k, n)| {
                let w = weight(k);
                (
                    k.to_string(),
                    (n.to_string(), w.to_string(), (n * w).to_string()),
                )
            })
            .collect();
        assert_eq!(parts, want, "{user}: {out}");
        let sum: i64 = counts.iter().map(|(k, n)| n * weight(k)).sum();
        assert_eq!(json["score"]["sum"], Json::from(sum.to_string()), "{out}");
        // sum / 7, half-even to 2 places, on integers.
        let hundredths = {
            let (q, r) = (sum * 100 / 7, sum * 100 % 7);
            if 2 * r > 7 || (2 * r == 7 && q % 2 == 1) {
                q + 1
            } else {
                q
            }
        };
        assert_eq!(
            json["score"]["score"],
            Json::from(format!("{}.{:02}", hundredths / 100, hundredths % 100)),
            "{out}"
        );
        // Rewards and their share of each day's pool.
        for r in json["rewards"].as_array().unwrap() {
            let day: NaiveDate = r["day"].as_str().unwrap().parse().unwrap();
            let (taken, pool) = paid(&rewards, user, day);
            let (claims, amount) = taken.expect("a day with rewards");
            assert_eq!(r["claims"], Json::from(claims.to_string()), "{out}");
            assert_eq!(
                r["amount"].as_str().unwrap().parse::<Decimal>().unwrap(),
                amount,
                "{out}"
            );
            let share = (amount * Decimal::from(100) / pool)
                .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointNearestEven);
            assert_eq!(r["share"].as_str().unwrap(), format!("{share:.1}"), "{out}");
        }
        let rewarded_days = days
            .iter()
            .filter(|d| paid(&rewards, user, **d).0.is_some())
            .count();
        assert_eq!(
            json["rewards"].as_array().unwrap().len(),
            rewarded_days,
            "{out}"
        );
    }
    // The text output says when the group changed.
    let text = ws.ok(&["user", &moved, "--date", "2026-11-15"]);
    assert!(
        text.contains(" → ") && text.contains(" on 2026-11-"),
        "{text}"
    );
    assert!(
        text.contains("sum ") && text.contains(" / 7 days = score "),
        "{text}"
    );
    // Unknown, and in another case than stored: exit 1, and the hint.
    let (code, said) = output(&ws, &["user", "0xnobody", "--date", "2026-11-15"]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("`0xnobody` is not in the store"), "{said}");
    let (code, said) = output(&ws, &["user", "0xABC001", "--date", "2026-11-15"]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("`0xabc001` is"), "{said}");
    // Hostile ids are data, not markup.
    let (code, said) = output(&ws, &["user", "<!channel>", "--format", "markdown"]);
    assert_eq!(code, 1, "{said}");
}
