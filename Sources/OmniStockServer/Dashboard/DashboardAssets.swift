/// The dashboard's page: plain HTML, CSS and JavaScript compiled into the binary and served by
/// the operations HTTP server; no build step, nothing fetched from anywhere else. The script
/// polls the JSON API (``DashboardAPI``) every 2 seconds and shows one view at a time, chosen by
/// the URL's fragment: `#overview`, `#availability?sku=SKU`, `#exceptions`, `#throughput`.
enum DashboardAssets {
  /// Adds `/`, `/dashboard.css` and `/dashboard.js` to `routes`.
  static func register(into routes: inout HTTPRoutes) {
    let page = asset(html, type: "text/html; charset=utf-8", extra: [("content-security-policy", contentSecurityPolicy)])
    routes.add("/") { _ in page }
    let style = asset(style, type: "text/css; charset=utf-8")
    routes.add("/dashboard.css") { _ in style }
    let script = asset(script, type: "text/javascript; charset=utf-8")
    routes.add("/dashboard.js") { _ in script }
  }

  /// Only this server's own files and API; no inline script or style.
  static let contentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

  private static func asset(_ text: String, type: String, extra: [(name: String, value: String)] = []) -> HTTPAnswer {
    HTTPAnswer(contentType: type, body: Array(text.utf8), headers: [("cache-control", "no-cache")] + extra)
  }

  static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>OmniStock operations</title>
    <link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%230f2a4a'/%3E%3Crect x='3' y='3' width='4' height='4' fill='%2334d399'/%3E%3Crect x='9' y='3' width='4' height='4' fill='%2334d399'/%3E%3Crect x='3' y='9' width='4' height='4' fill='%2334d399'/%3E%3Crect x='9' y='9' width='4' height='4' fill='%23f87171'/%3E%3C/svg%3E">
    <link rel="stylesheet" href="/dashboard.css">
    <script src="/dashboard.js" defer></script>
    </head>
    <body>
    <header class="top">
      <div class="brand"><span class="logo" aria-hidden="true"></span><span class="name">OmniStock</span><span class="tagline">Inventory operations</span></div>
      <nav class="tabs" aria-label="Views">
        <a href="#overview" data-view="overview">Network</a>
        <a href="#availability" data-view="availability">Availability</a>
        <a href="#exceptions" data-view="exceptions">Exceptions <span class="badge" id="exceptions-badge" hidden></span></a>
        <a href="#throughput" data-view="throughput">Throughput</a>
      </nav>
      <div class="live" id="live" data-state="connecting"><span class="dot" aria-hidden="true"></span><span id="live-text">Connecting…</span></div>
    </header>
    <main>
      <section id="view-overview" class="view" aria-labelledby="overview-title">
        <div class="view-head">
          <h1 id="overview-title">Network overview</h1>
          <p class="explain">Every location, grouped by kind. <span class="key fresh">Fresh</span> locations sent an update within their stale-after window; <span class="key stale">stale</span> ones did not, so their stock figures may be out of date and groups that exclude stale data leave them out. Each tile shows how long ago the location last updated and how many events it sent in the last minute.</p>
        </div>
        <div class="cards" id="overview-cards"></div>
        <div id="overview-kinds" class="kinds"></div>
      </section>
      <section id="view-availability" class="view" aria-labelledby="availability-title" hidden>
        <div class="view-head">
          <h1 id="availability-title">Availability explorer</h1>
          <p class="explain">Look up a SKU to see it in every channel group and at every location. <b>Available</b> = on hand − reserved − safety stock (never below zero); it is what a storefront may sell.</p>
        </div>
        <form id="sku-form" class="search" role="search">
          <label for="sku">SKU</label>
          <input id="sku" name="sku" type="search" placeholder="Type a SKU, e.g. SKU-1001" autocomplete="off" spellcheck="false" maxlength="64">
          <button type="submit">Look up</button>
        </form>
        <div id="availability-result"></div>
      </section>
      <section id="view-exceptions" class="view" aria-labelledby="exceptions-title" hidden>
        <div class="view-head">
          <h1 id="exceptions-title">Exceptions</h1>
          <p class="explain">What needs a person's attention now: shelves whose stock went below zero, counts that differed from what the system expected, locations that stopped reporting, and devices whose events went missing.</p>
        </div>
        <div class="cards" id="exception-cards"></div>
        <div id="exception-lists" class="lists"></div>
      </section>
      <section id="view-throughput" class="view" aria-labelledby="throughput-title" hidden>
        <div class="view-head">
          <h1 id="throughput-title">Throughput and latency</h1>
          <p class="explain">One point per second over the last five minutes: stock events received from stores and systems, availability lookups from storefronts, and how fast those lookups were answered.</p>
        </div>
        <div id="sparklines" class="sparklines"></div>
      </section>
    </main>
    <footer id="footer">Updates every 2 seconds.</footer>
    </body>
    </html>
    """#
}
