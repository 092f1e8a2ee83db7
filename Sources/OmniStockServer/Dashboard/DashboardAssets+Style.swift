extension DashboardAssets {
  /// The page's stylesheet: readable at a glance on a store office screen (large numbers,
  /// colour plus words for every state, so nothing depends on colour alone).
  static let style = #"""
    :root {
      --ink: #1b2430; --muted: #5b6675; --line: #dde3ea; --page: #f3f5f8; --panel: #ffffff;
      --navy: #0f2a4a; --accent: #2563eb;
      --good: #15803d; --good-bg: #e8f6ee; --good-line: #86d0a5;
      --warn: #b45309; --warn-bg: #fff4e0; --warn-line: #f5c27a;
      --bad: #b91c1c; --bad-bg: #fdecec; --bad-line: #f2a3a3;
      --idle: #6b7280; --idle-bg: #f0f1f3; --idle-line: #c9cdd3;
    }
    * { box-sizing: border-box; }
    html { font-size: 15px; }
    body {
      margin: 0; background: var(--page); color: var(--ink);
      font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
      line-height: 1.4;
    }
    [hidden] { display: none !important; }
    .top {
      display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 56px;
      background: var(--navy); color: #fff; position: sticky; top: 0; z-index: 2;
    }
    .brand { display: flex; align-items: baseline; gap: 10px; white-space: nowrap; }
    .brand .logo {
      width: 18px; height: 18px; align-self: center; border-radius: 4px;
      background: linear-gradient(135deg, #34d399 0 50%, #60a5fa 50% 100%);
    }
    .brand .name { font-weight: 700; font-size: 1.2rem; letter-spacing: .01em; }
    .brand .tagline { color: #aebfd6; font-size: .9rem; }
    .tabs { display: flex; gap: 4px; height: 100%; }
    .tabs a {
      display: flex; align-items: center; gap: 6px; padding: 0 16px; color: #cfdbea; text-decoration: none;
      font-weight: 600; border-bottom: 3px solid transparent;
    }
    .tabs a:hover { color: #fff; }
    .tabs a.active { color: #fff; border-bottom-color: #60a5fa; }
    .badge {
      min-width: 22px; padding: 1px 7px; border-radius: 11px; background: #ef4444; color: #fff;
      font-size: .78rem; text-align: center;
    }
    .live { margin-left: auto; display: flex; align-items: center; gap: 8px; font-size: .88rem; color: #cfdbea; white-space: nowrap; }
    .live .dot { width: 10px; height: 10px; border-radius: 50%; background: #9ca3af; }
    .live[data-state="ok"] .dot { background: #34d399; box-shadow: 0 0 0 3px rgba(52, 211, 153, .25); }
    .live[data-state="error"] .dot { background: #f87171; }
    .live[data-state="error"] { color: #fecaca; }
    main { padding: 20px 24px 8px; max-width: 1600px; margin: 0 auto; }
    .view-head h1 { margin: 0 0 4px; font-size: 1.45rem; }
    .explain { margin: 0 0 16px; color: var(--muted); max-width: 980px; }
    .key { padding: 0 6px; border-radius: 4px; font-weight: 600; }
    .key.fresh { background: var(--good-bg); color: var(--good); }
    .key.stale { background: var(--bad-bg); color: var(--bad); }
    .key.inactive { background: var(--idle-bg); color: var(--idle); }
    .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin-bottom: 18px; }
    .card {
      background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px;
      border-top: 4px solid var(--line); color: inherit; text-decoration: none; display: block;
    }
    .card.good { border-top-color: var(--good); }
    .card.bad { border-top-color: var(--bad); }
    .card.warn { border-top-color: var(--warn); }
    .card .label { color: var(--muted); font-size: .85rem; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
    .card .value { font-size: 2rem; font-weight: 700; line-height: 1.15; font-variant-numeric: tabular-nums; }
    .card.bad .value { color: var(--bad); }
    .card .sub { color: var(--muted); font-size: .88rem; }
    .kinds { display: flex; flex-wrap: wrap; gap: 14px; }
    .kind { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; min-width: 190px; }
    .kind h2 { margin: 0 0 10px; font-size: 1.05rem; display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
    .kind h2 .counts { font-weight: 500; font-size: .88rem; color: var(--muted); }
    .kind h2 .counts b.stale { color: var(--bad); }
    .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(158px, 1fr)); gap: 6px; }
    .tile {
      border: 1px solid var(--good-line); border-left: 5px solid var(--good); background: var(--good-bg);
      border-radius: 6px; padding: 4px 8px 5px; min-width: 0; position: relative;
    }
    .tile.stale { border-color: var(--bad-line); border-left-color: var(--bad); background: var(--bad-bg); }
    .tile.inactive { border-color: var(--idle-line); border-left-color: var(--idle); background: var(--idle-bg); color: var(--idle); }
    .tile-top { display: flex; justify-content: space-between; align-items: baseline; gap: 6px; }
    .tile-name { font-weight: 650; font-size: .92rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
    .tile-meta { display: flex; justify-content: space-between; gap: 6px; font-size: .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
    .tile .state { font-weight: 700; font-size: .68rem; letter-spacing: .06em; text-transform: uppercase; color: var(--good); flex: none; }
    .tile.stale .state { color: var(--bad); }
    .tile.stale .tile-meta { color: var(--bad); }
    .tile.inactive .state { color: var(--idle); }
    .tile.fresh .state { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
    .search { display: flex; gap: 8px; align-items: center; margin-bottom: 16px; }
    .search label { font-weight: 700; }
    .search input {
      font: inherit; font-size: 1.05rem; padding: 8px 12px; width: 340px; border: 1px solid #b8c2cf; border-radius: 8px;
    }
    .search input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
    .search button {
      font: inherit; font-weight: 600; padding: 8px 18px; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer;
    }
    .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; margin-bottom: 16px; }
    .lists { display: grid; grid-template-columns: repeat(auto-fit, minmax(600px, 1fr)); gap: 14px; align-items: start; }
    .lists .panel { margin-bottom: 0; }
    .lists .panel.wide { grid-column: 1 / -1; }
    .panel h2 { margin: 0 0 8px; font-size: 1.08rem; }
    .panel h2 .hint { font-weight: 400; color: var(--muted); font-size: .88rem; margin-left: 8px; }
    .panel .note { color: var(--muted); margin: 8px 0 0; font-size: .9rem; }
    .message { padding: 14px 16px; border-radius: 10px; background: var(--panel); border: 1px solid var(--line); color: var(--muted); }
    .message.error { background: var(--warn-bg); border-color: var(--warn-line); color: #7c3d06; }
    table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
    th { text-align: left; font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); font-weight: 650; padding: 6px 10px; border-bottom: 2px solid var(--line); }
    td { padding: 6px 10px; border-bottom: 1px solid #edf0f4; vertical-align: top; white-space: nowrap; }
    td[data-field="location"] { white-space: normal; }
    tr:last-child td { border-bottom: 0; }
    th.num, td.num { text-align: right; }
    td.num.negative { color: var(--bad); font-weight: 700; }
    td.num.strong { font-weight: 700; }
    td .id { display: block; font-size: .8rem; color: var(--muted); }
    td a, .panel a { color: var(--accent); text-decoration: none; }
    td a:hover { text-decoration: underline; }
    .pill { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: .8rem; font-weight: 700; white-space: nowrap; }
    .pill.in-stock { background: var(--good-bg); color: var(--good); }
    .pill.low-stock { background: var(--warn-bg); color: var(--warn); }
    .pill.out-of-stock { background: var(--bad-bg); color: var(--bad); }
    .pill.stale { background: var(--bad-bg); color: var(--bad); margin-left: 4px; }
    .sku-head { display: flex; align-items: baseline; gap: 14px; margin-bottom: 12px; flex-wrap: wrap; }
    .sku-head .sku { font-size: 1.6rem; font-weight: 700; }
    .sku-head .total { color: var(--muted); }
    .sku-head .total b { color: var(--ink); font-size: 1.15rem; }
    .sparklines { display: grid; grid-template-columns: 1fr; gap: 14px; }
    .spark-card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 16px 8px; }
    .spark-top { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; flex-wrap: wrap; }
    .spark-top h2 { margin: 0; font-size: 1.05rem; }
    .spark-top .what { color: var(--muted); font-size: .88rem; }
    .spark-now { font-size: 1.7rem; font-weight: 700; font-variant-numeric: tabular-nums; }
    .spark-now small { font-size: .9rem; color: var(--muted); font-weight: 500; margin-left: 4px; }
    .spark-stats { color: var(--muted); font-size: .88rem; font-variant-numeric: tabular-nums; }
    svg.spark { width: 100%; height: 84px; display: block; margin-top: 4px; }
    svg.spark .area { stroke: none; opacity: .16; }
    svg.spark .line { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }
    svg.spark .grid { stroke: #e5e9ef; stroke-width: 1; vector-effect: non-scaling-stroke; }
    .axis { display: flex; justify-content: space-between; color: var(--muted); font-size: .78rem; }
    footer { color: var(--muted); font-size: .82rem; padding: 8px 24px 18px; max-width: 1600px; margin: 0 auto; }
    @media (max-width: 760px) {
      .top { flex-wrap: wrap; height: auto; padding: 8px 12px; gap: 8px; }
      .tabs a { padding: 8px 10px; }
      main { padding: 12px; }
      .search input { width: 100%; }
    }
    """#
}
