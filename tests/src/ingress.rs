//! Starts the ingress in-process on port 0 with a config written for the test.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::signer::Delivery;

/// A running ingress.
pub struct TestIngress {
    pub base_url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestIngress {
    /// Starts the ingress from a TOML config. `server.listen` defaults to 127.0.0.1:0 here.
    pub async fn start(config_toml: &str) -> Self {
        let toml = if config_toml.contains("[server]") {
            config_toml.to_owned()
        } else {
            format!("[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n{config_toml}")
        };
        let config = xcs_ingress::Config::from_toml(&toml, |_| None).expect("valid test config");
        let app = xcs_ingress::Application::build(config).expect("ingress starts");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestIngress {
            base_url,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// POSTs a signed delivery.
    pub async fn send(&self, delivery: &Delivery) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{}", self.base_url, delivery.path()))
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        request.send().await.expect("the ingress answers")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("the ingress answers")
    }

    /// Waits until `/readyz` says ready.
    pub async fn wait_ready(&self) {
        crate::eventually(
            std::time::Duration::from_secs(20),
            "the ingress to be ready",
            || async { (self.get("/readyz").await.status() == 200).then_some(()) },
        )
        .await;
    }

    /// Graceful shutdown: in-flight requests finish first.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

impl Drop for TestIngress {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
