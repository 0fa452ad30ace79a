//! The dead-letter index (`xcs_dead_letters`): one row per event the dead queue `xcs.dead`
//! holds or held, so the console pages through 100,000 dead letters on indexes instead of
//! reading the whole queue. The queue stays the truth; the index follows it:
//!
//! - the processor records a row when the broker confirmed an event's dead copy
//!   ([`Ledger::record_dead_letter`]; a failure there only logs, the event is dead all the same);
//! - `dead replay` and `dead purge` mark what they replayed or purged
//!   ([`Ledger::mark_dead_letters`]);
//! - `dead reindex` reads the whole queue, records every message as dead and marks `gone` what
//!   the index holds as dead but the queue does not ([`Ledger::mark_dead_letters_gone`]).
//!
//! Pages are newest first, by keyset on `(dead_at, event_id)` ([`Cursor`]), on the partial
//! indexes `WHERE state = 'dead'` (all, by shop, by reason, by tenant); the other filters
//! (platform, kind, times) narrow those.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use xcs_shared::{EventKind, Platform};

use super::{Ledger, LedgerError};

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadState {
    /// In the dead queue.
    Dead,
    /// Sent back to be processed again (`dead replay`, or the console).
    Replayed,
    /// Deleted for good.
    Purged,
    /// Not in the queue when `dead reindex` read all of it (removed by other means).
    Gone,
}

impl DeadState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadState::Dead => "dead",
            DeadState::Replayed => "replayed",
            DeadState::Purged => "purged",
            DeadState::Gone => "gone",
        }
    }
}

impl FromStr for DeadState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "dead" => Ok(DeadState::Dead),
            "replayed" => Ok(DeadState::Replayed),
            "purged" => Ok(DeadState::Purged),
            "gone" => Ok(DeadState::Gone),
            other => Err(format!(
                "{other:?} is not a dead-letter state (dead, replayed, purged, gone)"
            )),
        }
    }
}

impl fmt::Display for DeadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dead letter as the index holds it: the fields `operate::dead::DeadLetter::read` gives
/// of the queue message (`DeadLetter::index_row`), and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterRow {
    pub event_id: String,
    pub platform: Option<String>,
    pub shop: Option<String>,
    pub tenant: Option<String>,
    pub kind: Option<String>,
    pub topic: Option<String>,
    pub reason: String,
    /// RabbitMQ dead-lettered it (past a shard queue's delivery limit), not the processor.
    pub by_broker: bool,
    pub attempts: Option<u32>,
    pub last_error: Option<String>,
    /// When it was dead-lettered (stored to the microsecond).
    pub dead_at: OffsetDateTime,
    /// Recording a row makes it [`DeadState::Dead`] whatever this says.
    pub state: DeadState,
    /// When it took its state.
    pub state_at: Option<OffsetDateTime>,
    /// Who replayed or purged it: an operator's name, or `cli`.
    pub state_by: Option<String>,
}

/// Which dead letters a page holds; every criterion given must match, none given is all.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    pub platform: Option<Platform>,
    pub shop: Option<String>,
    pub tenant: Option<String>,
    pub kind: Option<EventKind>,
    pub reason: Option<String>,
    /// Dead-lettered at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Dead-lettered before this time.
    pub until: Option<OffsetDateTime>,
    pub event_id: Option<String>,
    /// Only rows in this state; `None` is [`DeadState::Dead`] (the ones the indexes serve).
    pub state: Option<DeadState>,
}

/// Where the next page starts: after the row dead at `dead_at` with `event_id`, newest first.
/// As text (`Display`/`FromStr`) it is `<unix microseconds>_<event id in URL-safe base64>`,
/// which goes in a URL query string as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub dead_at: OffsetDateTime,
    pub event_id: String,
}

/// A cursor's text was not one this index gave out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a dead-letter page cursor: {0}")]
pub struct CursorError(&'static str);

impl Cursor {
    fn of(row: &DeadLetterRow) -> Self {
        Cursor {
            dead_at: row.dead_at,
            event_id: row.event_id.clone(),
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.dead_at.unix_timestamp_nanos().div_euclid(1000);
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.event_id);
        write!(f, "{micros}_{id}")
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(text: &str) -> Result<Self, CursorError> {
        let (micros, id) = text
            .split_once('_')
            .ok_or(CursorError("no `_` between time and id"))?;
        if micros.is_empty()
            || micros.len() > 20
            || !micros
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            return Err(CursorError("the time is not a number of microseconds"));
        }
        let micros: i128 = micros
            .parse()
            .map_err(|_| CursorError("the time is not a number of microseconds"))?;
        let dead_at = OffsetDateTime::from_unix_timestamp_nanos(micros * 1000)
            .map_err(|_| CursorError("the time is out of range"))?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id)
            .map_err(|_| CursorError("the id is not URL-safe base64"))?;
        let event_id = String::from_utf8(id).map_err(|_| CursorError("the id is not UTF-8"))?;
        if event_id.is_empty() {
            return Err(CursorError("the id is empty"));
        }
        Ok(Cursor { dead_at, event_id })
    }
}

/// One page of dead letters, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DeadPage {
    pub rows: Vec<DeadLetterRow>,
    /// Where the next page starts; `None` on the last page.
    #[serde(serialize_with = "cursor_text")]
    pub next: Option<Cursor>,
}

fn cursor_text<S: serde::Serializer>(
    cursor: &Option<Cursor>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match cursor {
        Some(cursor) => serializer.serialize_some(&cursor.to_string()),
        None => serializer.serialize_none(),
    }
}

/// How many dead letters one shop has on one platform for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadCount {
    pub shop: String,
    pub platform: String,
    pub reason: String,
    pub count: i64,
}

/// The most rows one page holds.
pub const MAX_PAGE: usize = 1000;

const COLUMNS: &str = "event_id, platform, shop, tenant, kind, topic, reason, by_broker, \
                       attempts, last_error, dead_at, state, state_at, state_by";

fn some(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn row_of(row: &Row) -> DeadLetterRow {
    let attempts: Option<i32> = row.get("attempts");
    let state: String = row.get("state");
    DeadLetterRow {
        event_id: row.get("event_id"),
        platform: some(row.get("platform")),
        shop: some(row.get("shop")),
        tenant: some(row.get("tenant")),
        kind: some(row.get("kind")),
        topic: some(row.get("topic")),
        reason: row.get("reason"),
        by_broker: row.get("by_broker"),
        attempts: attempts.and_then(|a| u32::try_from(a).ok()),
        last_error: row.get("last_error"),
        dead_at: row.get("dead_at"),
        state: state.parse().unwrap_or(DeadState::Dead),
        state_at: row.get("state_at"),
        state_by: row.get("state_by"),
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

/// The page query for `filter`, with only the criteria given (so the planner sees constants
/// on the indexed columns and picks the partial index), and its parameters.
fn page_query(
    filter: &DeadFilter,
    after: Option<&Cursor>,
    limit: usize,
    select: &str,
) -> (String, Vec<Param>) {
    let state = filter.state.unwrap_or(DeadState::Dead);
    let mut params: Vec<Param> = vec![Box::new(state.as_str())];
    let mut sql = format!("SELECT {select} FROM xcs_dead_letters WHERE state = $1");
    let mut equal = |column: &str, value: Option<String>, sql: &mut String| {
        if let Some(value) = value {
            params.push(Box::new(value));
            sql.push_str(&format!(" AND {column} = ${}", params.len()));
        }
    };
    equal(
        "platform",
        filter.platform.map(|p| p.as_str().to_owned()),
        &mut sql,
    );
    equal("shop", filter.shop.clone(), &mut sql);
    equal("tenant", filter.tenant.clone(), &mut sql);
    equal("kind", filter.kind.map(|k| k.as_str().to_owned()), &mut sql);
    equal("reason", filter.reason.clone(), &mut sql);
    equal("event_id", filter.event_id.clone(), &mut sql);
    if let Some(since) = filter.since {
        params.push(Box::new(since));
        sql.push_str(&format!(" AND dead_at >= ${}", params.len()));
    }
    if let Some(until) = filter.until {
        params.push(Box::new(until));
        sql.push_str(&format!(" AND dead_at < ${}", params.len()));
    }
    if let Some(after) = after {
        params.push(Box::new(after.dead_at));
        params.push(Box::new(after.event_id.clone()));
        sql.push_str(&format!(
            " AND (dead_at, event_id) < (${}, ${})",
            params.len() - 1,
            params.len()
        ));
    }
    params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    sql.push_str(&format!(
        " ORDER BY dead_at DESC, event_id DESC LIMIT ${}",
        params.len()
    ));
    (sql, params)
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl Ledger {
    /// Records `row` as dead (its `state` is ignored). An event dead again after a replay is
    /// dead again, with its new reason, attempts, error and time.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_dead_letter(&self, row: &DeadLetterRow) -> Result<(), LedgerError> {
        self.record_dead_letters(std::slice::from_ref(row))
            .await
            .map(drop)
    }

    /// Records `rows` as dead in one statement (as [`Ledger::record_dead_letter`]); of two
    /// rows of one event, the later in `rows` counts. Returns how many events were recorded.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_dead_letters(&self, rows: &[DeadLetterRow]) -> Result<u64, LedgerError> {
        if rows.is_empty() {
            return Ok(0);
        }
        // One statement may not upsert a row twice: the last copy of an event wins.
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            last.insert(&row.event_id, i);
        }
        let mut chosen: Vec<usize> = last.into_values().collect();
        chosen.sort_unstable();
        let rows: Vec<&DeadLetterRow> = chosen.into_iter().map(|i| &rows[i]).collect();
        let text = |f: fn(&DeadLetterRow) -> &Option<String>| -> Vec<&str> {
            rows.iter()
                .map(|r| f(r).as_deref().unwrap_or_default())
                .collect()
        };
        let event_ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
        let platforms = text(|r| &r.platform);
        let shops = text(|r| &r.shop);
        let tenants = text(|r| &r.tenant);
        let kinds = text(|r| &r.kind);
        let topics = text(|r| &r.topic);
        let reasons: Vec<&str> = rows.iter().map(|r| r.reason.as_str()).collect();
        let by_broker: Vec<bool> = rows.iter().map(|r| r.by_broker).collect();
        let attempts: Vec<Option<i32>> = rows
            .iter()
            .map(|r| r.attempts.map(|a| i32::try_from(a).unwrap_or(i32::MAX)))
            .collect();
        let errors: Vec<Option<&str>> = rows.iter().map(|r| r.last_error.as_deref()).collect();
        let dead_at: Vec<OffsetDateTime> = rows.iter().map(|r| r.dead_at).collect();
        let client = self.pool.get().await?;
        let recorded = client
            .execute(
                "INSERT INTO xcs_dead_letters (event_id, platform, shop, tenant, kind, topic,
                     reason, by_broker, attempts, last_error, dead_at, state, state_at)
                 SELECT *, 'dead', now() FROM unnest($1::text[], $2::text[], $3::text[],
                     $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::int[],
                     $10::text[], $11::timestamptz[])
                 ON CONFLICT (event_id) DO UPDATE SET
                     platform = EXCLUDED.platform, shop = EXCLUDED.shop,
                     tenant = EXCLUDED.tenant, kind = EXCLUDED.kind, topic = EXCLUDED.topic,
                     reason = EXCLUDED.reason, by_broker = EXCLUDED.by_broker,
                     attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
                     dead_at = EXCLUDED.dead_at, state = 'dead',
                     state_at = CASE WHEN xcs_dead_letters.state = 'dead'
                                     THEN xcs_dead_letters.state_at ELSE now() END,
                     state_by = CASE WHEN xcs_dead_letters.state = 'dead'
                                     THEN xcs_dead_letters.state_by END",
                &[
                    &event_ids, &platforms, &shops, &tenants, &kinds, &topics, &reasons,
                    &by_broker, &attempts, &errors, &dead_at,
                ],
            )
            .await?;
        Ok(recorded)
    }

    /// Marks what a replay or purge did: each `(event id, dead at)` given takes `state`, `by`
    /// whom, now, unless the index has it dead *later* than the copy replayed or purged (the
    /// event failed again since, and is dead again). `dead at` is the removed copy's, `None`
    /// when it had none. Events the index does not hold stay out of it. Returns how many rows
    /// were marked.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn mark_dead_letters(
        &self,
        marks: &[(String, Option<OffsetDateTime>)],
        state: DeadState,
        by: &str,
    ) -> Result<u64, LedgerError> {
        if marks.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = marks.iter().map(|(id, _)| id.as_str()).collect();
        let dead_at: Vec<Option<OffsetDateTime>> = marks.iter().map(|(_, at)| *at).collect();
        let client = self.pool.get().await?;
        let marked = client
            .execute(
                "UPDATE xcs_dead_letters AS d
                    SET state = $3, state_at = now(), state_by = $4
                   FROM (SELECT DISTINCT ON (id) id, at
                           FROM unnest($1::text[], $2::timestamptz[]) AS m(id, at)
                          ORDER BY id, at DESC NULLS FIRST) AS m
                  WHERE d.event_id = m.id AND (m.at IS NULL OR d.dead_at <= m.at)",
                &[&ids, &dead_at, &state.as_str(), &by],
            )
            .await?;
        Ok(marked)
    }

    /// After a reindex read the whole queue: every row dead in the index, dead before
    /// `read_from` (when the reading started; later ones may be behind the part read) and not
    /// among `seen`, becomes [`DeadState::Gone`]. Returns how many.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn mark_dead_letters_gone(
        &self,
        seen: &[String],
        read_from: OffsetDateTime,
    ) -> Result<u64, LedgerError> {
        let client = self.pool.get().await?;
        let gone = client
            .execute(
                "UPDATE xcs_dead_letters
                    SET state = 'gone', state_at = now(), state_by = NULL
                  WHERE state = 'dead' AND dead_at < $2
                    AND NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS s(id)
                                     WHERE s.id = xcs_dead_letters.event_id)",
                &[&seen, &read_from],
            )
            .await?;
        Ok(gone)
    }

    /// A page of at most `limit` (1 to [`MAX_PAGE`]) dead letters matching `filter`, newest
    /// first, after `after` (`None`: from the newest).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn dead_letter_page(
        &self,
        filter: &DeadFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<DeadPage, LedgerError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let (sql, params) = page_query(filter, after, limit + 1, COLUMNS);
        let client = self.pool.get().await?;
        let found = client.query(&sql, &refs(&params)).await?;
        let mut rows: Vec<DeadLetterRow> = found.iter().map(row_of).collect();
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(Cursor::of)
        } else {
            None
        };
        Ok(DeadPage { rows, next })
    }

    /// PostgreSQL's plan for [`Ledger::dead_letter_page`] (`EXPLAIN`, one line per row), to
    /// check which index a page uses.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn explain_dead_letter_page(
        &self,
        filter: &DeadFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<String, LedgerError> {
        let (sql, params) = page_query(filter, after, limit.clamp(1, MAX_PAGE) + 1, COLUMNS);
        let client = self.pool.get().await?;
        let plan = client
            .query(&format!("EXPLAIN {sql}"), &refs(&params))
            .await?;
        Ok(plan
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// How many letters are dead per shop, platform and reason, in that order: the console's
    /// overview, in one query; only `shops`' when given (a shop's page).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn dead_letter_counts(
        &self,
        shops: Option<&[String]>,
    ) -> Result<Vec<DeadCount>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT shop, platform, reason, count(*) FROM xcs_dead_letters
                  WHERE state = 'dead' AND ($1::text[] IS NULL OR shop = ANY($1))
                  GROUP BY shop, platform, reason
                  ORDER BY shop, platform, reason",
                &[&shops],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| DeadCount {
                shop: row.get(0),
                platform: row.get(1),
                reason: row.get(2),
                count: row.get(3),
            })
            .collect())
    }

    /// The index's row of `event_id`, whatever its state.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn dead_letter(&self, event_id: &str) -> Result<Option<DeadLetterRow>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM xcs_dead_letters WHERE event_id = $1"),
                &[&event_id],
            )
            .await?;
        Ok(row.as_ref().map(row_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_goes_in_a_url_as_it_is() {
        let cursor = Cursor {
            dead_at: time::macros::datetime!(2026-11-20 10:00:00.123456 UTC),
            event_id: "shopify:nz-shopify:a/b?c=d&e".to_owned(),
        };
        let text = cursor.to_string();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(text.parse::<Cursor>().unwrap(), cursor);
        let before_1970 = Cursor {
            dead_at: time::macros::datetime!(1969-12-31 23:59:59.5 UTC),
            event_id: "x".to_owned(),
        };
        assert_eq!(
            before_1970.to_string().parse::<Cursor>().unwrap(),
            before_1970
        );
    }

    #[test]
    fn a_garbage_cursor_is_refused() {
        for garbage in [
            "",
            "_",
            "abc",
            "123",
            "12x_YQ",
            "_YQ",
            "123_",
            "123_!!",
            "123_/w",
            "99999999999999999999_YQ",
            "--1_YQ",
        ] {
            assert!(garbage.parse::<Cursor>().is_err(), "{garbage:?} was taken");
        }
    }

    #[test]
    fn a_page_query_names_only_the_criteria_given() {
        let (sql, params) = page_query(&DeadFilter::default(), None, 51, "event_id");
        assert_eq!(
            sql,
            "SELECT event_id FROM xcs_dead_letters WHERE state = $1 \
             ORDER BY dead_at DESC, event_id DESC LIMIT $2"
        );
        assert_eq!(params.len(), 2);
        let filter = DeadFilter {
            shop: Some("acme".into()),
            reason: Some("unmapped_tax".into()),
            since: Some(OffsetDateTime::UNIX_EPOCH),
            ..DeadFilter::default()
        };
        let cursor = Cursor {
            dead_at: OffsetDateTime::UNIX_EPOCH,
            event_id: "x".into(),
        };
        let (sql, params) = page_query(&filter, Some(&cursor), 51, "event_id");
        assert_eq!(
            sql,
            "SELECT event_id FROM xcs_dead_letters WHERE state = $1 AND shop = $2 \
             AND reason = $3 AND dead_at >= $4 AND (dead_at, event_id) < ($5, $6) \
             ORDER BY dead_at DESC, event_id DESC LIMIT $7"
        );
        assert_eq!(params.len(), 7);
    }
}
