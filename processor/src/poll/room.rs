//! Flow control for backfills. A backfill reads months of history far faster than Xero takes
//! it (a platform page is 100 to 250 orders; a tenant books about 50 a call, 60 calls a
//! minute), and everything it publishes queues in the shards, where webhooks of every shop
//! that shares a shard wait behind it. So before each page it publishes, a backfill waits
//! until the shards hold at most [`MAX_READY`] events waiting for a processor: it goes at the
//! processors' pace, not the platform's, and a webhook arriving meanwhile waits behind a few
//! batches, not behind the whole history. Busy webhook traffic pauses the backfill the same
//! way, which is the point: history can wait, today's sales should not.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use xcs_shared::topology;

use super::PollError;

/// Events ready in all shards together above which a backfill waits: five batches of 50, a
/// few seconds of a tenant's Xero allowance.
pub const MAX_READY: u32 = 250;
/// How often a waiting backfill looks again.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// The shards' depth, read with passive declares (which count ready messages only: those a
/// processor holds unacknowledged are already being booked).
pub struct ShardRoom {
    channel: Channel,
    max_ready: u32,
}

impl ShardRoom {
    /// # Errors
    /// When no channel can be opened.
    pub async fn open(connection: &Connection) -> anyhow::Result<Self> {
        Ok(ShardRoom {
            channel: connection.create_channel().await?,
            max_ready: MAX_READY,
        })
    }

    /// Waits until the shards have room; `waiting` hears how many events are queued while it
    /// waits (for a progress bar).
    ///
    /// # Errors
    /// [`PollError::Publish`] when the shards cannot be read.
    pub async fn wait(&self, mut waiting: impl FnMut(u32)) -> Result<(), PollError> {
        loop {
            let ready = self.ready().await?;
            if ready <= self.max_ready {
                return Ok(());
            }
            waiting(ready);
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    async fn ready(&self) -> Result<u32, PollError> {
        let mut ready = 0u32;
        for queue in topology::shard_queues() {
            let declared = self
                .channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|err| {
                    PollError::Publish(format!(
                        "cannot read the depth of {queue}: {err}; is the topology deployed?"
                    ))
                })?;
            ready = ready.saturating_add(declared.message_count());
        }
        Ok(ready)
    }

    pub async fn close(self) {
        let _ = self.channel.close(200, "backfilled".into()).await;
    }
}
