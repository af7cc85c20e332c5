//! The accept loop. warp's own logs every connection that ends early at ERROR, so a reader who
//! closes a tab mid-response would look like an operator's problem. Here a client that goes away,
//! or sends what is not HTTP, is logged at DEBUG; only the server's own failures (accepting, a
//! connection that broke for another reason) are logged at WARN or ERROR.

use super::routes::routes;
use super::state::WebState;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Serves the results on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<WebState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(state.clone().measure_ingest_rate());
    serve_filter(listener, routes(state), shutdown).await;
}

/// Serves any warp `filter` (whose rejections are already replies) on `listener` until
/// `shutdown` resolves, with this module's accept loop and logging.
pub async fn serve_filter<F, R>(
    listener: tokio::net::TcpListener,
    filter: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: warp::Filter<Extract = (R,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    R: warp::Reply,
{
    let service = warp::service(filter);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(service.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's defaults: no pipelined flushing, which would hold back the error
            // response (414, 431) hyper writes to a request it cannot parse.
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                match the_clients_doing(&*error) {
                    true => tracing::debug!(%error, "an HTTP client went away or sent what is not HTTP"),
                    false => tracing::warn!(%error, "an HTTP connection failed"),
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An accept that failed: a connection reset before it was accepted is the client's; anything
/// else (out of file descriptors, say) is the server's, logged, and waited out for a second as
/// hyper has always done.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting HTTP connections");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// True when a connection ended by its client's doing: it went away (a closed tab, a dropped
/// network: a request cut short, a reset, a broken pipe) or sent what does not parse as HTTP
/// (hyper has answered that with a 4xx), anywhere in the error's chain.
pub(super) fn the_clients_doing(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::*;
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message()
                || hyper.is_canceled()
                || hyper.is_closed()
                || hyper.is_timeout()
                || hyper.is_parse()
                || hyper.is_parse_too_large()
            {
                return true;
            }
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_or_a_broken_pipe_is_the_client_leaving_and_other_failures_are_not() {
        for kind in [std::io::ErrorKind::ConnectionReset, std::io::ErrorKind::BrokenPipe] {
            let error: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::from(kind));
            assert!(the_clients_doing(&*error), "{kind:?}");
        }
        let error: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("disk on fire"));
        assert!(!the_clients_doing(&*error));
    }
}
