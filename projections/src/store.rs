//! The read-model tables (`my_submissions`, `queue_items`, `projector_checkpoints`) and every
//! query on them. Projectors write through this module; the API reads through it.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use domain::Status;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};

use crate::feed::FeedPosition;
use crate::views::{QueueItem, QueueKind, SubmissionView};

/// One page of a list, in list order, each item with the cursor that resumes after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub edges: Vec<(String, T)>,
    /// More items follow the last edge.
    pub has_next_page: bool,
    /// Items in the whole list, ignoring the cursor.
    pub total_count: i64,
}

/// Why a read-model query failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `after` cursor was not one this list hands out: the caller's mistake.
    #[error("the cursor is malformed")]
    InvalidCursor,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The table of each case's `SubmissionView`, by its live name.
pub const SUBMISSIONS_TABLE: &str = "my_submissions";

/// The table of the clerks' work queues, by its live name.
pub const QUEUE_TABLE: &str = "queue_items";

/// Which copy of the read-model tables a projector writes, and under which checkpoint.
///
/// Table names are identifiers written in this crate, never input: they go into SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableSet {
    /// The tables readers query, under the names the migrations give them.
    Live,
    /// The copy a rebuild fills while readers keep using the live one: each live table name
    /// with `_rebuild` appended, each checkpoint name with `@rebuild`.
    Rebuild,
}

impl TableSet {
    /// The name in this set of the table the migrations call `live`.
    pub fn table(self, live: &'static str) -> Cow<'static, str> {
        match self {
            Self::Live => Cow::Borrowed(live),
            Self::Rebuild => Cow::Owned(format!("{live}_rebuild")),
        }
    }

    /// The name of the checkpoint of `projector` writing this set.
    pub fn checkpoint(self, projector: &'static str) -> Cow<'static, str> {
        match self {
            Self::Live => Cow::Borrowed(projector),
            Self::Rebuild => Cow::Owned(format!("{projector}@rebuild")),
        }
    }
}

/// The stored name of a status, as in the GraphQL `ApplicationStatus`.
pub fn status_code(status: Status) -> &'static str {
    match status {
        Status::New => "NEW",
        Status::Submitted => "SUBMITTED",
        Status::Accepted => "ACCEPTED",
        Status::NotAccepted => "NOT_ACCEPTED",
        Status::Approved => "APPROVED",
        Status::NotApproved => "NOT_APPROVED",
        Status::Shipped => "SHIPPED",
        Status::Collected => "COLLECTED",
    }
}

// ---- Queries -------------------------------------------------------------------------

/// One case, or `None` when the read model has not seen it.
pub async fn submission(
    pool: &PgPool,
    case_number: &str,
) -> Result<Option<SubmissionView>, StoreError> {
    let mut conn = pool.acquire().await?;
    let mut views = load_submissions(&mut conn, TableSet::Live, &[case_number]).await?;
    Ok(views.remove(case_number))
}

/// An applicant's cases, newest submission first, optionally only those in `status`.
/// Returns at most `first` edges after the `after` cursor; refuses a cursor this list did
/// not hand out with `InvalidCursor`.
pub async fn my_submissions(
    pool: &PgPool,
    applicant_id: &str,
    status: Option<Status>,
    first: i64,
    after: Option<&str>,
) -> Result<Page<SubmissionView>, StoreError> {
    const FIRST_PAGE: &str = "SELECT case_number, submitted_at, view FROM my_submissions \
        WHERE applicant_id = $1 AND ($2::text IS NULL OR status = $2) \
        ORDER BY submitted_at DESC, case_number DESC LIMIT $3";
    const NEXT_PAGE: &str = "SELECT case_number, submitted_at, view FROM my_submissions \
        WHERE applicant_id = $1 AND ($2::text IS NULL OR status = $2) \
          AND (submitted_at, case_number) < ($4, $5) \
        ORDER BY submitted_at DESC, case_number DESC LIMIT $3";

    let after = after
        .map(|raw| Cursor::decode(SUBMISSIONS, raw))
        .transpose()?;
    let status = status.map(status_code);
    let limit = first.max(0);
    let query = match &after {
        None => sqlx::query(FIRST_PAGE),
        Some(_) => sqlx::query(NEXT_PAGE),
    };
    let mut query = query.bind(applicant_id).bind(status).bind(limit + 1);
    if let Some(cursor) = &after {
        query = query.bind(cursor.at).bind(&cursor.case_number);
    }
    let rows = query.fetch_all(pool).await?;

    // Limitation: the count is a second query, so a case projected between the two can
    // make `total_count` disagree with the edges by one; both are right a moment later.
    let total_count = sqlx::query_scalar(
        "SELECT count(*) FROM my_submissions \
         WHERE applicant_id = $1 AND ($2::text IS NULL OR status = $2)",
    )
    .bind(applicant_id)
    .bind(status)
    .fetch_one(pool)
    .await?;
    page(
        rows,
        limit,
        total_count,
        SUBMISSIONS,
        "submitted_at",
        "view",
    )
}

/// The cases waiting in one queue, longest waiting first (by when they entered it).
/// Returns at most `first` edges after the `after` cursor; refuses a cursor this list did
/// not hand out with `InvalidCursor`.
pub async fn queue(
    pool: &PgPool,
    kind: QueueKind,
    first: i64,
    after: Option<&str>,
) -> Result<Page<QueueItem>, StoreError> {
    const FIRST_PAGE: &str = "SELECT case_number, entered_at, item FROM queue_items \
        WHERE kind = $1 ORDER BY entered_at, case_number LIMIT $2";
    const NEXT_PAGE: &str = "SELECT case_number, entered_at, item FROM queue_items \
        WHERE kind = $1 AND (entered_at, case_number) > ($3, $4) \
        ORDER BY entered_at, case_number LIMIT $2";

    let after = after.map(|raw| Cursor::decode(QUEUE, raw)).transpose()?;
    let limit = first.max(0);
    let query = match &after {
        None => sqlx::query(FIRST_PAGE),
        Some(_) => sqlx::query(NEXT_PAGE),
    };
    let mut query = query.bind(kind.as_str()).bind(limit + 1);
    if let Some(cursor) = &after {
        query = query.bind(cursor.at).bind(&cursor.case_number);
    }
    let rows = query.fetch_all(pool).await?;

    let total_count = sqlx::query_scalar("SELECT count(*) FROM queue_items WHERE kind = $1")
        .bind(kind.as_str())
        .fetch_one(pool)
        .await?;
    page(rows, limit, total_count, QUEUE, "entered_at", "item")
}

/// Builds a page from up to `limit + 1` rows of `case_number`, a sort-key time column and
/// a JSON column.
fn page<T: serde::de::DeserializeOwned>(
    rows: Vec<PgRow>,
    limit: i64,
    total_count: i64,
    list: char,
    at_column: &str,
    json_column: &str,
) -> Result<Page<T>, StoreError> {
    let has_next_page = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    let edges = rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|row| {
            let cursor = Cursor {
                at: row.try_get(at_column)?,
                case_number: row.try_get("case_number")?,
            };
            let Json(node) = row.try_get(json_column)?;
            Ok((cursor.encode(list), node))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Page {
        edges,
        has_next_page,
        total_count,
    })
}

/// The list a cursor belongs to, so one list's cursor is refused by another.
const SUBMISSIONS: char = 's';
const QUEUE: char = 'q';

/// A keyset position: the sort time as stored (microseconds) and the case number that
/// breaks ties. Clients see it as base64url text and must treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    at: DateTime<Utc>,
    case_number: String,
}

impl Cursor {
    fn encode(&self, list: char) -> String {
        let key = format!("{list}:{}:{}", self.at.timestamp_micros(), self.case_number);
        URL_SAFE_NO_PAD.encode(key)
    }

    fn decode(list: char, raw: &str) -> Result<Self, StoreError> {
        let parse = || -> Option<Self> {
            let key = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
            let mut parts = key.splitn(3, ':');
            let tag = parts.next()?;
            let micros = parts.next()?.parse().ok()?;
            let case_number = parts.next()?;
            let own_list = tag.len() == list.len_utf8() && tag.starts_with(list);
            // Case numbers are ASCII letters and digits; anything else (a NUL byte, say)
            // would only make the database refuse the query.
            let plausible = !case_number.is_empty()
                && case_number.len() <= 32
                && case_number.bytes().all(|b| b.is_ascii_alphanumeric());
            if !own_list || !plausible {
                return None;
            }
            Some(Self {
                at: DateTime::from_timestamp_micros(micros)?,
                case_number: case_number.to_owned(),
            })
        };
        parse().ok_or(StoreError::InvalidCursor)
    }
}

// ---- Writes by projectors -------------------------------------------------------------
//
// A projector reads what a batch of events touches in one query, folds the batch in memory
// and writes the outcome back in one statement per table: a batch costs a handful of round
// trips whatever its size.

/// The stored views in `tables` of those of `case_numbers` that have one.
pub async fn load_submissions(
    conn: &mut PgConnection,
    tables: TableSet,
    case_numbers: &[&str],
) -> Result<HashMap<String, SubmissionView>, sqlx::Error> {
    let sql = format!(
        "SELECT view FROM {} WHERE case_number = ANY($1)",
        tables.table(SUBMISSIONS_TABLE)
    );
    let views: Vec<Json<SubmissionView>> = sqlx::query_scalar(&sql)
        .bind(case_numbers)
        .fetch_all(conn)
        .await?;
    Ok(views
        .into_iter()
        .map(|Json(view)| (view.case_number.clone(), view))
        .collect())
}

/// Stores `views` in `tables`, each replacing any earlier view of its case. No two of them
/// may be of the same case.
pub async fn save_submissions(
    conn: &mut PgConnection,
    tables: TableSet,
    views: &[&SubmissionView],
) -> Result<(), sqlx::Error> {
    if views.is_empty() {
        return Ok(());
    }
    let mut columns = SubmissionColumns::with_capacity(views.len());
    for view in views {
        columns.push(view).map_err(encode_error)?;
    }
    let sql = format!(
        "INSERT INTO {} \
             (case_number, applicant_id, status, submitted_at, updated_at, view) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], \
                              $5::timestamptz[], $6::text[]::jsonb[]) \
         ON CONFLICT (case_number) DO UPDATE SET \
             applicant_id = EXCLUDED.applicant_id, status = EXCLUDED.status, \
             submitted_at = EXCLUDED.submitted_at, updated_at = EXCLUDED.updated_at, \
             view = EXCLUDED.view",
        tables.table(SUBMISSIONS_TABLE)
    );
    sqlx::query(&sql)
        .bind(columns.case_numbers)
        .bind(columns.applicant_ids)
        .bind(columns.statuses)
        .bind(columns.submitted_at)
        .bind(columns.updated_at)
        .bind(columns.views)
        .execute(conn)
        .await?;
    Ok(())
}

/// Views as one array per column, for `UNNEST`.
struct SubmissionColumns<'a> {
    case_numbers: Vec<&'a str>,
    applicant_ids: Vec<&'a str>,
    statuses: Vec<&'static str>,
    submitted_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    /// Serialised here rather than bound as JSON values: one array of text is one
    /// parameter, where sqlx would encode a JSON array element by element.
    views: Vec<String>,
}

impl<'a> SubmissionColumns<'a> {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            case_numbers: Vec::with_capacity(capacity),
            applicant_ids: Vec::with_capacity(capacity),
            statuses: Vec::with_capacity(capacity),
            submitted_at: Vec::with_capacity(capacity),
            updated_at: Vec::with_capacity(capacity),
            views: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, view: &'a SubmissionView) -> Result<(), serde_json::Error> {
        self.views.push(serde_json::to_string(view)?);
        self.case_numbers.push(&view.case_number);
        self.applicant_ids.push(&view.applicant_id);
        self.statuses.push(status_code(view.status));
        self.submitted_at.push(view.submitted_at);
        self.updated_at.push(view.updated_at);
        Ok(())
    }
}

/// The queue items in `tables` of each of `case_numbers` that has any, each case's in the
/// order they entered their queues.
pub async fn queued_items(
    conn: &mut PgConnection,
    tables: TableSet,
    case_numbers: &[&str],
) -> Result<HashMap<String, Vec<QueueItem>>, sqlx::Error> {
    let sql = format!(
        "SELECT item FROM {} WHERE case_number = ANY($1) ORDER BY entered_at, kind",
        tables.table(QUEUE_TABLE)
    );
    let items: Vec<Json<QueueItem>> = sqlx::query_scalar(&sql)
        .bind(case_numbers)
        .fetch_all(conn)
        .await?;
    let mut by_case: HashMap<String, Vec<QueueItem>> = HashMap::new();
    for Json(item) in items {
        by_case
            .entry(item.case_number.clone())
            .or_default()
            .push(item);
    }
    Ok(by_case)
}

/// Makes `items` the only queue items in `tables` of the cases in `case_numbers`: every
/// other item of theirs leaves its queue. Each item must be of one of those cases.
pub async fn replace_queue_items(
    conn: &mut PgConnection,
    tables: TableSet,
    case_numbers: &[&str],
    items: &[&QueueItem],
) -> Result<(), sqlx::Error> {
    let table = tables.table(QUEUE_TABLE);
    sqlx::query(&format!("DELETE FROM {table} WHERE case_number = ANY($1)"))
        .bind(case_numbers)
        .execute(&mut *conn)
        .await?;
    if items.is_empty() {
        return Ok(());
    }
    let mut kinds = Vec::with_capacity(items.len());
    let mut cases = Vec::with_capacity(items.len());
    let mut entered_at = Vec::with_capacity(items.len());
    let mut submitted_at = Vec::with_capacity(items.len());
    let mut bodies = Vec::with_capacity(items.len());
    for item in items {
        kinds.push(item.kind.as_str());
        cases.push(item.case_number.as_str());
        entered_at.push(item.entered_at);
        submitted_at.push(item.submitted_at);
        bodies.push(serde_json::to_string(item).map_err(encode_error)?);
    }
    sqlx::query(&format!(
        "INSERT INTO {table} (kind, case_number, entered_at, submitted_at, item) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], \
                              $5::text[]::jsonb[])"
    ))
    .bind(kinds)
    .bind(cases)
    .bind(entered_at)
    .bind(submitted_at)
    .bind(bodies)
    .execute(conn)
    .await?;
    Ok(())
}

fn encode_error(error: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(error))
}

/// Empties the live tables named, for a rebuild in place.
pub async fn clear_tables(
    conn: &mut PgConnection,
    tables: &[&'static str],
) -> Result<(), sqlx::Error> {
    for table in tables {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ---- Checkpoints ----------------------------------------------------------------------

/// Creates the projector's checkpoint at `ZERO` unless it exists.
pub async fn ensure_checkpoint(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projector_checkpoints (name, transaction_id, global_position) \
         VALUES ($1, '0', 0) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}

/// The first key of a projector's advisory lock (arbitrary, fixed); the second is the hashed
/// checkpoint name.
const PROJECTOR_LOCK_CLASS: i32 = 0x5052_4f4a;

/// Takes the projector's lock until the transaction ends, then reads its checkpoint (`ZERO`
/// when it has none yet), so one runner at a time, in any process, advances it.
///
/// An advisory lock rather than a row lock: `SELECT … FOR UPDATE` gives the transaction an
/// id at once, and a transaction id held while a batch is read and folded holds the ordered
/// feed back for every reader in the cluster. Under this lock a step takes an id only when
/// it writes, at its end.
pub async fn lock_checkpoint(
    conn: &mut PgConnection,
    name: &str,
) -> Result<FeedPosition, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(PROJECTOR_LOCK_CLASS)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    checkpoint(conn, name).await
}

/// Moves the projector's checkpoint to `position`.
pub async fn save_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    position: FeedPosition,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projector_checkpoints (name, transaction_id, global_position) \
         VALUES ($1, $2::text::xid8, $3) \
         ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, \
             global_position = EXCLUDED.global_position, updated_at = now()",
    )
    .bind(name)
    .bind(position.transaction_id.to_string())
    .bind(position.global_position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the checkpoint named `name`, if any.
pub async fn delete_checkpoint(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projector_checkpoints WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// The projector's committed checkpoint; `ZERO` before its first run.
pub async fn checkpoint<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    name: &str,
) -> Result<FeedPosition, sqlx::Error> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS transaction_id, global_position \
         FROM projector_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) => decode_checkpoint(&row),
        None => Ok(FeedPosition::ZERO),
    }
}

fn decode_checkpoint(row: &PgRow) -> Result<FeedPosition, sqlx::Error> {
    let transaction_id: String = row.try_get("transaction_id")?;
    let position = format!(
        "{transaction_id}-{}",
        row.try_get::<i64, _>("global_position")?
    );
    position
        .parse()
        .map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_the_serde_names() {
        for status in [
            Status::New,
            Status::Submitted,
            Status::Accepted,
            Status::NotAccepted,
            Status::Approved,
            Status::NotApproved,
            Status::Shipped,
            Status::Collected,
        ] {
            let serde_name = serde_json::to_value(status).unwrap();
            assert_eq!(serde_name, status_code(status));
        }
    }

    #[test]
    fn a_cursor_decodes_to_the_key_it_was_made_from_in_its_own_list_only() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_764_815_400_123_456).unwrap(),
            case_number: "TC48210937561".to_owned(),
        };
        let encoded = cursor.encode(QUEUE);
        assert_eq!(Cursor::decode(QUEUE, &encoded).unwrap(), cursor);
        assert!(matches!(
            Cursor::decode(SUBMISSIONS, &encoded),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        let not_base64 = "!!!";
        let no_time = URL_SAFE_NO_PAD.encode("q:soon:TC1");
        let no_case = URL_SAFE_NO_PAD.encode("q:12");
        let empty_case = URL_SAFE_NO_PAD.encode("q:12:");
        for raw in ["", not_base64, &no_time, &no_case, &empty_case] {
            assert!(
                matches!(Cursor::decode(QUEUE, raw), Err(StoreError::InvalidCursor)),
                "{raw:?} decoded"
            );
        }
    }
}
