//! Which processor consumes which shard. Every shard queue has single active consumer, so two
//! processors never book one tenant at once; but RabbitMQ makes the first subscriber the active
//! consumer of every queue, so a second processor would only stand by. Processors therefore
//! share the shards out between themselves with PostgreSQL session advisory locks, which the
//! server releases the moment a processor's connection ends (a crash included): each one holds
//! a membership lock, counts the members, and claims its fair share of shard locks, consuming
//! only the shards it holds. Single active consumer stays as the safety net for the moments in
//! which two processors believe they hold one shard (a processor cut off from PostgreSQL).

use std::str::FromStr as _;

use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use tokio_postgres::NoTls;

use crate::config::PostgresConfig;

/// A processor's membership and shard locks, on a connection of their own.
pub struct ShardClaims {
    client: tokio_postgres::Client,
    /// Lock classes, derived from the ledger schema: processors of one deployment share
    /// shards; tests and deployments with their own schema do not meet.
    member_class: i32,
    shard_class: i32,
    member_id: i32,
}

impl ShardClaims {
    /// Connects and joins the processors of this deployment.
    ///
    /// # Errors
    /// When PostgreSQL cannot be reached.
    pub async fn join(config: &PostgresConfig) -> Result<Self, tokio_postgres::Error> {
        let pg = tokio_postgres::Config::from_str(config.url.expose_secret())?;
        let (client, connection) = pg.connect(NoTls).await?;
        // Ends when the client is dropped, which closes the session and frees its locks.
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(error = %err, "the shard-claims connection to PostgreSQL ended");
            }
        });
        let member_class = lock_class("members", &config.schema);
        let shard_class = lock_class("shards", &config.schema);
        let member_id = loop {
            // The last bytes of a v7 UUID are random.
            let random = uuid::Uuid::now_v7();
            let candidate =
                i32::from_be_bytes(random.as_bytes()[12..].try_into().expect("4 bytes"));
            let taken: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&member_class, &candidate],
                )
                .await?
                .get(0);
            if taken {
                break candidate;
            }
        };
        Ok(ShardClaims {
            client,
            member_class,
            shard_class,
            member_id,
        })
    }

    /// A number that spreads members' first claims over different shards.
    pub fn member_id(&self) -> i32 {
        self.member_id
    }

    /// Processors of this deployment connected now (this one included).
    ///
    /// # Errors
    /// When the connection failed; the locks are then gone too.
    pub async fn members(&self) -> Result<usize, tokio_postgres::Error> {
        let count: i64 = self
            .client
            .query_one(
                // pg_locks lists every database's locks, but advisory locks are per
                // database: a deployment in another database with the same schema name must
                // not count, or both would claim too few shards and leave some unconsumed.
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND objsubid = 2 AND classid::bigint = $1 \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[&i64::from(self.member_class)],
            )
            .await?
            .get(0);
        Ok(usize::try_from(count).unwrap_or(1).max(1))
    }

    /// Takes `shard` if no other processor holds it.
    ///
    /// # Errors
    /// When the connection failed.
    pub async fn try_claim(&self, shard: usize) -> Result<bool, tokio_postgres::Error> {
        Ok(self
            .client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&self.shard_class, &shard_key(shard)],
            )
            .await?
            .get(0))
    }

    /// Lets another processor take `shard`.
    ///
    /// # Errors
    /// When the connection failed (which released the lock anyway).
    pub async fn release(&self, shard: usize) -> Result<(), tokio_postgres::Error> {
        self.client
            .query_one(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&self.shard_class, &shard_key(shard)],
            )
            .await
            .map(drop)
    }
}

/// How many shards each of `members` processors should hold so that all are held.
pub fn fair_share(shards: usize, members: usize) -> usize {
    shards.div_ceil(members.max(1))
}

fn shard_key(shard: usize) -> i32 {
    i32::try_from(shard).expect("fewer than 2^31 shards")
}

/// A non-negative lock class (PostgreSQL shows it as an unsigned `oid` in `pg_locks`).
fn lock_class(purpose: &str, schema: &str) -> i32 {
    let digest = Sha256::digest(format!("xcs-processor:{purpose}:{schema}"));
    i32::from_be_bytes(digest[..4].try_into().expect("4 bytes")) & i32::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_shares_cover_every_shard() {
        for members in 1..=10 {
            assert!(fair_share(8, members) * members >= 8, "{members} members");
        }
        assert_eq!(fair_share(8, 1), 8);
        assert_eq!(fair_share(8, 3), 3);
        assert_eq!(fair_share(8, 9), 1);
    }

    #[test]
    fn lock_classes_differ_by_purpose_and_schema_and_are_not_negative() {
        let classes = [
            lock_class("members", "a"),
            lock_class("shards", "a"),
            lock_class("members", "b"),
        ];
        assert!(classes.iter().all(|c| *c >= 0));
        assert_ne!(classes[0], classes[1]);
        assert_ne!(classes[0], classes[2]);
    }
}
