//! The Xero connections' OAuth tokens (`xcs_xero_tokens`), sealed by the token cipher and
//! bound to their row and column, and the organisations each connection reaches
//! (`xcs_xero_connections`), and the authorization-code flow's pending states
//! (`xcs_oauth_states`).

use sha2::{Digest as _, Sha256};

use super::{Ledger, LedgerError};

/// What `xcs_oauth_states` keeps of a state: its SHA-256, so reading the table gives no state
/// a callback would accept.
fn state_key(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// Where a connection's tokens are stored: what an encrypted token is bound to, so it cannot
/// be moved to another row or column.
fn token_slots(connection: &str) -> (String, String) {
    (
        format!("{connection}:refresh"),
        format!("{connection}:access"),
    )
}

impl Ledger {
    /// Runs `refresh` for `connection` holding a row lock, so only one processor refreshes a
    /// connection's token at a time (`rejected_access_token` is the access token Xero just
    /// refused, if that is why we are here); `refresh` gets the stored refresh token and returns the
    /// new refresh token and access token, which are stored before the lock is released (and
    /// so before the new token is used).
    ///
    /// # Errors
    /// [`LedgerError`], or `refresh`'s error.
    pub async fn rotate_token<F, Fut, E>(
        &self,
        connection: &str,
        rejected_access_token: Option<&str>,
        refresh: F,
    ) -> Result<Result<StoredToken, E>, LedgerError>
    where
        F: FnOnce(StoredToken) -> Fut,
        Fut: std::future::Future<Output = Result<StoredToken, E>>,
    {
        self.rotate(connection, rejected_access_token, false, refresh)
            .await
    }

    /// As [`Ledger::rotate_token`], but refreshes even a fresh token: `check` proves the app's
    /// client secret this way, which a still valid access token would not (Xero asks for the
    /// secret only at the token endpoint). The rotated tokens are stored under the same lock.
    ///
    /// # Errors
    /// [`LedgerError`], or `refresh`'s error.
    pub async fn refresh_token_now<F, Fut, E>(
        &self,
        connection: &str,
        refresh: F,
    ) -> Result<Result<StoredToken, E>, LedgerError>
    where
        F: FnOnce(StoredToken) -> Fut,
        Fut: std::future::Future<Output = Result<StoredToken, E>>,
    {
        self.rotate(connection, None, true, refresh).await
    }

    async fn rotate<F, Fut, E>(
        &self,
        connection: &str,
        rejected_access_token: Option<&str>,
        force: bool,
        refresh: F,
    ) -> Result<Result<StoredToken, E>, LedgerError>
    where
        F: FnOnce(StoredToken) -> Fut,
        Fut: std::future::Future<Output = Result<StoredToken, E>>,
    {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT refresh_token, access_token, access_expires_at FROM xcs_xero_tokens
                 WHERE connection = $1 FOR UPDATE",
                &[&connection],
            )
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(LedgerError::Setup(format!(
                "no Xero tokens stored for connection {connection:?}; connect it first"
            )));
        };
        let (refresh_slot, access_slot) = token_slots(connection);
        let access_token: Option<String> = row.get(1);
        let opened = self
            .tokens
            .open(&refresh_slot, row.get(0))
            .and_then(|refresh_token| {
                Ok(StoredToken {
                    refresh_token,
                    access_token: access_token
                        .map(|token| self.tokens.open(&access_slot, &token))
                        .transpose()?,
                    access_expires_at: row.get(2),
                })
            });
        let stored = match opened {
            Ok(stored) => stored,
            Err(err) => {
                // Release the row lock now rather than whenever the pool recycles the client.
                tx.rollback().await?;
                return Err(err.into());
            }
        };
        // Another processor may have refreshed while we waited for the lock. A token Xero
        // has just refused is not fresh, whatever its stored expiry says.
        let refused = rejected_access_token.is_some()
            && stored.access_token.as_deref() == rejected_access_token;
        if stored.is_fresh() && !refused && !force {
            tx.commit().await?;
            return Ok(Ok(stored));
        }
        match refresh(stored).await {
            Ok(new) => {
                tx.execute(
                    "UPDATE xcs_xero_tokens SET refresh_token = $2, access_token = $3,
                       access_expires_at = $4, updated_at = now() WHERE connection = $1",
                    &[
                        &connection,
                        &self.tokens.seal(&refresh_slot, &new.refresh_token)?,
                        &new.access_token
                            .as_deref()
                            .map(|token| self.tokens.seal(&access_slot, token))
                            .transpose()?,
                        &new.access_expires_at,
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(Ok(new))
            }
            Err(err) => Ok(Err(err)),
        }
    }

    /// Stores a connection's tokens (after the authorization-code exchange).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn store_token(
        &self,
        connection: &str,
        token: &StoredToken,
    ) -> Result<(), LedgerError> {
        let (refresh_slot, access_slot) = token_slots(connection);
        let refresh_token = self.tokens.seal(&refresh_slot, &token.refresh_token)?;
        let access_token = token
            .access_token
            .as_deref()
            .map(|access| self.tokens.seal(&access_slot, access))
            .transpose()?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (connection) DO UPDATE SET refresh_token = EXCLUDED.refresh_token,
                   access_token = EXCLUDED.access_token,
                   access_expires_at = EXCLUDED.access_expires_at, updated_at = now()",
                &[
                    &connection,
                    &refresh_token,
                    &access_token,
                    &token.access_expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    /// Replaces what is known about `connection`'s organisations with `tenants`, the answer
    /// of Xero's `GET /connections` right after the user consented.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn replace_connections(
        &self,
        connection: &str,
        tenants: &[ConnectedTenant],
    ) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM xcs_xero_connections WHERE connection = $1",
            &[&connection],
        )
        .await?;
        for tenant in tenants {
            tx.execute(
                "INSERT INTO xcs_xero_connections
                   (tenant_id, connection, connection_id, tenant_name, tenant_type, auth_event_id)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id) DO UPDATE SET connection = EXCLUDED.connection,
                   connection_id = EXCLUDED.connection_id, tenant_name = EXCLUDED.tenant_name,
                   tenant_type = EXCLUDED.tenant_type, auth_event_id = EXCLUDED.auth_event_id,
                   connected_at = now()",
                &[
                    &tenant.tenant_id,
                    &connection,
                    &tenant.connection_id,
                    &tenant.tenant_name,
                    &tenant.tenant_type,
                    &tenant.auth_event_id,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The organisations connected through the authorization-code flow, by name.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn connections(&self) -> Result<Vec<ConnectedTenant>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT tenant_id, connection_id, tenant_name, tenant_type, auth_event_id
                 FROM xcs_xero_connections ORDER BY tenant_name, tenant_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ConnectedTenant {
                tenant_id: r.get(0),
                connection_id: r.get(1),
                tenant_name: r.get(2),
                tenant_type: r.get(3),
                auth_event_id: r.get(4),
            })
            .collect())
    }

    /// Whether tokens are stored for `connection` (the authorization-code flow ran).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn has_token(&self, connection: &str) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM xcs_xero_tokens WHERE connection = $1",
                &[&connection],
            )
            .await?
            .is_some())
    }
}

impl Ledger {
    /// Records `state`, handed to Xero by an authorization-code flow that `started_by`
    /// started, as pending until `ttl` from now; states already expired are deleted.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn put_oauth_state(
        &self,
        state: &str,
        started_by: &str,
        ttl: std::time::Duration,
    ) -> Result<(), LedgerError> {
        let seconds = f64::from(u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX));
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM xcs_oauth_states WHERE expires_at <= now()",
                &[],
            )
            .await?;
        client
            .execute(
                "INSERT INTO xcs_oauth_states (state_hash, started_by, expires_at)
                 VALUES ($1, $2, now() + make_interval(secs => $3))",
                &[&state_key(state), &started_by, &seconds],
            )
            .await?;
        Ok(())
    }

    /// Uses up `state`: whoever started its flow when it was pending and not expired, `None`
    /// when it is unknown, already used or expired. Once taken, a state is gone, so only one
    /// callback (on whichever processor) completes a flow.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn take_oauth_state(&self, state: &str) -> Result<Option<String>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "DELETE FROM xcs_oauth_states WHERE state_hash = $1
                 RETURNING started_by, expires_at > now()",
                &[&state_key(state)],
            )
            .await?;
        Ok(row.and_then(|row| row.get::<_, bool>(1).then(|| row.get(0))))
    }
}

/// One Xero organisation a connection reaches (`GET /connections`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedTenant {
    pub tenant_id: String,
    /// The connection's own id (`id`), which `DELETE /connections/{id}` takes.
    pub connection_id: String,
    pub tenant_name: String,
    pub tenant_type: String,
    pub auth_event_id: String,
}

/// A connection's tokens as stored.
#[derive(Clone)]
pub struct StoredToken {
    pub refresh_token: String,
    pub access_token: Option<String>,
    pub access_expires_at: Option<time::OffsetDateTime>,
}

impl StoredToken {
    /// Usable for at least another minute.
    pub fn is_fresh(&self) -> bool {
        self.access_token.is_some()
            && self
                .access_expires_at
                .is_some_and(|at| at > time::OffsetDateTime::now_utc() + time::Duration::minutes(1))
    }
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}
