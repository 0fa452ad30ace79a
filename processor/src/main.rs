//! The processor books events in Xero. It is built in issue 3; until then this binary only
//! says so, so that deployments and scripts can already name it.

fn main() -> std::process::ExitCode {
    eprintln!(
        "xcs-processor is not built yet (issue 3): events published by the ingress wait in the \
         shard queues (xcs.shard.*) until it is"
    );
    std::process::ExitCode::FAILURE
}
