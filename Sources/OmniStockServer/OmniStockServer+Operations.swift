extension OmniStockServer {
  /// What the operations HTTP server (`--metrics-port`) serves: Prometheus metrics, the
  /// dashboard's page and its JSON API.
  func operationsRoutes() -> HTTPRoutes {
    var routes = HTTPRoutes()
    let metrics = self.metrics
    routes.add("/metrics") { _ in
      HTTPAnswer(contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.scrape())
    }
    DashboardAssets.register(into: &routes)
    dashboard.register(into: &routes)
    return routes
  }
}
