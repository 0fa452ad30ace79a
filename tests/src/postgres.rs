//! A PostgreSQL schema per test on the real server (127.0.0.1:5432, trust auth), dropped when
//! the test ends. The processor creates its tables in the schema it is given.

use std::time::Duration;

/// The server, overridable for a database elsewhere.
pub fn postgres_url() -> String {
    std::env::var("XCS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A schema of our own.
pub struct TestSchema {
    pub name: String,
}

impl TestSchema {
    pub fn new() -> Self {
        TestSchema {
            name: format!("xcs_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// A client with `search_path` set to this schema, for assertions on the ledger.
    pub async fn client(&self) -> tokio_postgres::Client {
        let mut config: tokio_postgres::Config = postgres_url().parse().expect("a postgres URL");
        config.options(format!("-c search_path={}", self.name));
        let (client, connection) =
            config
                .connect(tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|err| {
                    panic!("PostgreSQL unreachable ({err}); run scripts/services.sh")
                });
        tokio::spawn(connection);
        client
    }
}

impl Default for TestSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let statement = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(async {
                let Ok((client, connection)) =
                    tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls).await
                else {
                    return;
                };
                tokio::spawn(connection);
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), client.batch_execute(&statement))
                        .await;
            });
        })
        .join();
    }
}
