extension DashboardAssets {
  /// The page's script: hash routing between the four views, polling of the JSON API every 2 s,
  /// and rendering with DOM calls only (text is always set as text, never parsed as HTML).
  static let script = #"""
    'use strict';
    (function () {
      const POLL_MS = 2000;
      const VIEWS = ['overview', 'availability', 'exceptions', 'throughput'];
      const TITLES = { overview: 'Network', availability: 'Availability', exceptions: 'Exceptions', throughput: 'Throughput' };
      const KIND_NAMES = {
        STORE: 'Store', DARK_STORE: 'Dark store', WAREHOUSE: 'Warehouse',
        THIRD_PARTY_LOGISTICS: '3PL warehouse', DROPSHIP_VENDOR: 'Dropship vendor', GROUP: 'Group'
      };
      const STATUS_NAMES = { IN_STOCK: 'In stock', LOW_STOCK: 'Low stock', OUT_OF_STOCK: 'Out of stock' };
      const SVG = 'http://www.w3.org/2000/svg';
      const state = { view: 'overview', sku: '', timer: 0, generation: 0 };

      // ---- helpers ----
      function el(tag, attrs) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(attrs || {})) {
          if (value === undefined || value === null || value === false) continue;
          if (key === 'class') node.className = value;
          else if (key === 'text') node.textContent = String(value);
          else node.setAttribute(key, value === true ? '' : String(value));
        }
        for (let i = 2; i < arguments.length; i++) append(node, arguments[i]);
        return node;
      }
      function append(node, child) {
        if (child === undefined || child === null || child === false) return;
        if (Array.isArray(child)) { child.forEach((c) => append(node, c)); return; }
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
      const byId = (id) => document.getElementById(id);
      const number = (n) => Number(n).toLocaleString('en-US');
      function rate(x) {
        if (x === null || x === undefined) return '–';
        if (x >= 100) return number(Math.round(x));
        if (x >= 10) return x.toFixed(1);
        if (x === 0) return '0';
        return x.toFixed(2);
      }
      function duration(ms) {
        const s = Math.max(0, Math.round(ms / 1000));
        if (s < 60) return s + ' s';
        const m = Math.floor(s / 60);
        if (m < 60) return m + ' min';
        const h = Math.floor(m / 60);
        if (h < 48) return h + ' h ' + (m % 60) + ' min';
        return Math.floor(h / 24) + ' days';
      }
      const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
      const skuLink = (sku) => el('a', { href: '#availability?sku=' + encodeURIComponent(sku), text: sku });
      function statusPill(status) {
        return el('span', { class: 'pill ' + status.toLowerCase().replace(/_/g, '-'), text: STATUS_NAMES[status] || status });
      }
      function card(key, label, value, sub, tone, href) {
        return el(href ? 'a' : 'div', { class: 'card ' + (tone || ''), 'data-card': key, href: href },
          el('div', { class: 'label', text: label }),
          el('div', { class: 'value', 'data-value': value, text: typeof value === 'number' ? number(value) : value }),
          sub ? el('div', { class: 'sub', text: sub }) : null);
      }
      function table(columns, rows) {
        const head = el('tr', null, columns.map((c) => el('th', { class: c.num ? 'num' : null, text: c.title })));
        return el('table', null, el('thead', null, head), el('tbody', null, rows));
      }
      function numberCell(field, value, extra) {
        return el('td', { class: 'num ' + (value < 0 ? 'negative ' : '') + (extra || ''), 'data-field': field, text: number(value) });
      }
      function locationCell(id, name) {
        return el('td', { 'data-field': 'location' }, name || id, name && name !== id ? el('span', { class: 'id', text: id }) : null);
      }

      async function getJSON(path) {
        const response = await fetch(path, { cache: 'no-store' });
        let body = null;
        try { body = await response.json(); } catch (ignored) { body = null; }
        if (!response.ok) {
          const error = new Error((body && body.error) || ('the server answered ' + response.status));
          error.status = response.status;
          throw error;
        }
        return body;
      }

      // ---- routing and polling ----
      function route() {
        const hash = location.hash.replace(/^#/, '');
        const cut = hash.indexOf('?');
        const name = cut < 0 ? hash : hash.slice(0, cut);
        const params = new URLSearchParams(cut < 0 ? '' : hash.slice(cut + 1));
        return {
          view: VIEWS.includes(name) ? name : 'overview', sku: (params.get('sku') || '').trim(),
          limit: /^[0-9]{1,4}$/.test(params.get('limit') || '') ? params.get('limit') : '20'
        };
      }

      function show() {
        const next = route();
        state.view = next.view;
        state.sku = next.sku;
        state.limit = next.limit;
        for (const view of VIEWS) byId('view-' + view).hidden = view !== state.view;
        for (const link of document.querySelectorAll('.tabs a')) {
          const active = link.dataset.view === state.view;
          link.classList.toggle('active', active);
          if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
        }
        document.title = TITLES[state.view] + ' · OmniStock operations';
        if (state.view === 'availability') {
          byId('sku').value = state.sku;
          if (!state.sku) byId('availability-result').replaceChildren(
            el('div', { class: 'message', text: 'Type a SKU above and press Look up to see where it is in stock.' }));
        }
        refresh();
      }

      async function refresh() {
        clearTimeout(state.timer);
        const generation = ++state.generation;
        const current = () => generation === state.generation;
        try {
          const overview = await getJSON('/api/overview');
          if (!current()) return;
          renderChrome(overview);
          if (state.view === 'overview') renderOverview(overview);
          if (state.view === 'availability') await refreshAvailability(current);
          if (state.view === 'exceptions') {
            const exceptions = await getJSON('/api/exceptions?limit=' + state.limit);
            if (current()) renderExceptions(exceptions);
          }
          if (state.view === 'throughput') {
            const throughput = await getJSON('/api/throughput');
            if (current()) renderThroughput(throughput);
          }
          if (current()) setLive(true, 'Live · updated ' + clock(overview.serverTimeUnixMs));
        } catch (error) {
          if (current()) setLive(false, 'Cannot reach the server (' + error.message + '); retrying');
        }
        if (current()) state.timer = setTimeout(refresh, POLL_MS);
      }

      function setLive(ok, text) {
        byId('live').dataset.state = ok ? 'ok' : 'error';
        byId('live-text').textContent = text;
      }

      function renderChrome(overview) {
        const s = overview.summary;
        const badge = byId('exceptions-badge');
        badge.hidden = s.exceptions === 0;
        badge.textContent = number(s.exceptions);
        byId('footer').textContent = 'OmniStock ' + s.version + ' · running for ' +
          duration(overview.serverTimeUnixMs - s.startedAtUnixMs) + ' · ' + number(s.positions) + ' stock positions · change #' +
          number(s.appliedLsn) + ' applied · this page updates every 2 seconds.';
      }

      // ---- network overview ----
      function renderOverview(overview) {
        const s = overview.summary;
        byId('overview-cards').replaceChildren(
          card('locations', 'Locations', s.activeLocations,
            number(s.freshLocations) + ' fresh · ' + number(s.staleLocations) + ' stale' +
            (s.locations > s.activeLocations ? ' · ' + number(s.locations - s.activeLocations) + ' inactive' : ''),
            s.staleLocations > 0 ? 'warn' : 'good'),
          card('stale', 'Stale locations', s.staleLocations,
            s.staleLocations > 0 ? 'not reporting: figures may be out of date' : 'every location is reporting',
            s.staleLocations > 0 ? 'bad' : 'good', '#exceptions'),
          card('events', 'Events last minute', s.eventsLastMinute, rate(s.eventsPerSecond) + ' per second over the last 10 s'),
          card('exceptions', 'Open exceptions', s.exceptions, s.exceptions > 0 ? 'see the Exceptions tab' : 'nothing to do',
            s.exceptions > 0 ? 'bad' : 'good', '#exceptions'),
          card('positions', 'Stock positions', s.positions, number(s.skus) + ' SKUs · ' + number(s.devices) + ' devices'),
          card('reservations', 'Active reservations', s.activeReservations, 'orders holding stock'));
        byId('overview-kinds').replaceChildren(...overview.kinds.map((section) => {
          const counts = [el('span', null, number(section.locations.length) + (section.locations.length === 1 ? ' location' : ' locations'))];
          counts.push(' · ', el('span', { text: number(section.fresh) + ' fresh' }));
          if (section.stale > 0) counts.push(' · ', el('b', { class: 'stale', text: number(section.stale) + ' stale' }));
          if (section.inactive > 0) counts.push(' · ', el('span', { text: number(section.inactive) + ' inactive' }));
          const panel = el('section', { class: 'kind', 'data-kind': section.kind },
            el('h2', null, section.label, el('span', { class: 'counts' }, counts)),
            el('div', { class: 'tiles' }, section.locations.map(tile)));
          panel.style.flex = section.locations.length + ' 1 ' + (Math.min(section.locations.length, 8) * 166 + 30) + 'px';
          return panel;
        }));
      }

      function tile(location) {
        const condition = !location.active ? 'inactive' : location.stale ? 'stale' : 'fresh';
        const updated = location.lastUpdateUnixMs > 0 ? 'updated ' + duration(location.ageMs) + ' ago' : 'no update yet';
        const tooltip = location.name + ' (' + location.id + '): ' + condition + '; ' + updated +
          '; stale after ' + duration(location.staleAfterSeconds * 1000) + '; ' + location.devicesLastHour + ' devices in the last hour';
        return el('div', { class: 'tile ' + condition, 'data-location': location.id, 'data-state': condition, title: tooltip },
          el('div', { class: 'tile-top' },
            el('span', { class: 'tile-name', text: location.name }),
            el('span', { class: 'state', text: condition })),
          el('div', { class: 'tile-meta' },
            el('span', { 'data-field': 'age', text: location.lastUpdateUnixMs > 0 ? duration(location.ageMs) + ' ago' : 'no update yet' }),
            el('span', { 'data-field': 'events', text: number(location.eventsLastMinute) + '/min' })));
      }

      // ---- availability explorer ----
      async function refreshAvailability(current) {
        if (!state.sku) return;
        const result = byId('availability-result');
        try {
          const availability = await getJSON('/api/availability?sku=' + encodeURIComponent(state.sku));
          if (current()) renderAvailability(availability);
        } catch (error) {
          if (!error.status) throw error;
          if (current()) result.replaceChildren(el('div', { class: 'message error', 'data-error': error.status, text: error.message }));
        }
      }

      function availabilityRow(row, isGroup) {
        return el('tr', { 'data-id': row.id, 'data-kind': row.kind },
          locationCell(row.id, row.name),
          isGroup
            ? el('td', { class: 'num', 'data-field': 'locationsWithStock', text: number(row.locationsWithStock) + ' of ' + number(row.contributingLocations) })
            : el('td', { 'data-field': 'kind', text: KIND_NAMES[row.kind] || row.kind }),
          numberCell('onHand', row.onHand),
          numberCell('reserved', row.reserved),
          numberCell('safetyStock', row.safetyStock),
          numberCell('available', row.available, 'strong'),
          el('td', { 'data-field': 'status' }, statusPill(row.status), row.stale ? el('span', { class: 'pill stale', text: 'Stale' }) : null),
          isGroup ? null : el('td', { 'data-field': 'updated', text: row.updatedAtUnixMs > 0 ? clock(row.updatedAtUnixMs) : '–' }));
      }

      function renderAvailability(a) {
        const withStock = a.locations.filter((row) => row.available > 0).length;
        const available = a.locations.reduce((sum, row) => sum + row.available, 0);
        const head = el('div', { class: 'sku-head' },
          el('span', { class: 'sku', 'data-sku': a.sku, text: a.sku }),
          el('span', { class: 'total' }, el('b', { text: number(available) }), ' available at ',
            el('b', { text: number(withStock) }), withStock === 1 ? ' location' : ' locations'));
        const numbers = [
          { title: 'On hand', num: true }, { title: 'Reserved', num: true }, { title: 'Safety stock', num: true },
          { title: 'Available', num: true }, { title: 'Status' }];
        const parts = [head];
        if (a.groups.length > 0) {
          parts.push(el('div', { class: 'panel', id: 'availability-groups' },
            el('h2', null, 'By channel group', el('span', { class: 'hint', text: 'what each sales channel can promise' })),
            table([{ title: 'Group' }, { title: 'Locations with stock', num: true }].concat(numbers),
              a.groups.map((row) => availabilityRow(row, true)))));
        }
        parts.push(el('div', { class: 'panel', id: 'availability-locations' },
          el('h2', null, 'By location', el('span', { class: 'hint', text: 'negative on hand means the shelf had stock the system did not know about' })),
          a.locations.length > 0
            ? table([{ title: 'Location' }, { title: 'Kind' }].concat(numbers, [{ title: 'Last change' }]),
              a.locations.map((row) => availabilityRow(row, false)))
            : el('p', { class: 'note', text: 'No location has a record of this SKU.' }),
          a.unrecordedLocations > 0
            ? el('p', { class: 'note', 'data-unrecorded': a.unrecordedLocations,
              text: number(a.unrecordedLocations) + ' other locations have no record of this SKU (nothing received, sold or counted there).' })
            : null));
        byId('availability-result').replaceChildren(...parts);
      }

      // ---- exceptions ----
      const EXCEPTION_LISTS = [
        { key: 'negativeStock', title: 'Negative stock', sub: 'positions below zero', todo: 'Count these shelves: they held stock the system did not know about.',
          columns: [{ title: 'SKU' }, { title: 'Location' }, { title: 'On hand', num: true }, { title: 'Since' }],
          cells: (r, now) => [el('td', { 'data-field': 'sku' }, skuLink(r.sku)), locationCell(r.locationId, r.locationName),
            numberCell('onHand', r.onHand), el('td', { text: duration(now - r.detectedAtUnixMs) + ' ago' })] },
        { key: 'staleLocations', title: 'Stale locations', sub: 'not reporting', todo: 'No update within the stale-after window: check the store\u2019s terminals and network.',
          columns: [{ title: 'Location' }, { title: 'No update for', num: true }, { title: 'Stale after', num: true }],
          cells: (r) => [locationCell(r.locationId, r.locationName), el('td', { class: 'num strong', text: duration(r.ageMs) }),
            el('td', { class: 'num', text: r.staleAfterSeconds ? duration(r.staleAfterSeconds * 1000) : '–' })] },
        { key: 'countVariances', wide: true, title: 'Count variances', sub: 'counts that differed', todo: 'A count differed from the expected stock by more than the location allows: check for theft, damage or mis-scans.',
          columns: [{ title: 'SKU' }, { title: 'Location' }, { title: 'Expected', num: true }, { title: 'Counted', num: true },
            { title: 'Variance', num: true }, { title: 'Device' }, { title: 'When' }],
          cells: (r, now) => [el('td', { 'data-field': 'sku' }, skuLink(r.sku)), locationCell(r.locationId, r.locationName),
            numberCell('expected', r.onHand), numberCell('counted', r.counted),
            el('td', { class: 'num strong' + (r.variance < 0 ? ' negative' : ''), 'data-field': 'variance', text: (r.variance > 0 ? '+' : '') + number(r.variance) }),
            el('td', { text: r.deviceId || '–' }), el('td', { text: duration(now - r.detectedAtUnixMs) + ' ago' })] },
        { key: 'sequenceGaps', title: 'Sequence gaps', sub: 'device events missing', todo: 'A device skipped event numbers: those sales or receipts never arrived.',
          columns: [{ title: 'Device' }, { title: 'Location' }, { title: 'Missing events', num: true }, { title: 'When' }],
          cells: (r, now) => [el('td', { 'data-field': 'device', text: r.deviceId }), locationCell(r.locationId, r.locationName),
            el('td', { class: 'num', text: r.gapFrom === r.gapTo ? '#' + r.gapFrom : '#' + r.gapFrom + '–' + r.gapTo + ' (' + number(r.gapTo - r.gapFrom + 1) + ')' }),
            el('td', { text: duration(now - r.detectedAtUnixMs) + ' ago' })] },
        { key: 'invariantViolations', title: 'Invariant violations', sub: 'internal checks failed', todo: 'The server found figures that disagree; report these to engineering.',
          columns: [{ title: 'What' }, { title: 'When' }],
          cells: (r, now) => [el('td', { text: r.message }), el('td', { text: duration(now - r.detectedAtUnixMs) + ' ago' })] },
      ];

      function renderExceptions(e) {
        const shown = EXCEPTION_LISTS.filter((list) => list.key !== 'invariantViolations' || e.counts.invariantViolations > 0);
        byId('exception-cards').replaceChildren(...shown.map((list) =>
          card(list.key, list.title, e.counts[list.key], list.sub, e.counts[list.key] > 0 ? 'bad' : 'good', '#exceptions')));
        byId('exception-lists').replaceChildren(...shown.map((list) => {
          const rows = e[list.key];
          const count = e.counts[list.key];
          return el('div', { class: 'panel' + (list.wide ? ' wide' : ''), id: 'exceptions-' + list.key, 'data-list': list.key },
            el('h2', null, list.title + ' (' + number(count) + ')', el('span', { class: 'hint', text: list.todo })),
            rows.length > 0
              ? table(list.columns, rows.map((r) => el('tr', { 'data-sku': r.sku, 'data-location': r.locationId }, list.cells(r, e.serverTimeUnixMs))))
              : el('p', { class: 'note', text: 'None right now.' }),
            count > rows.length
              ? el('p', { class: 'note' }, 'Showing the newest ' + number(rows.length) + ' of ' + number(count) + '. ',
                rows.length < 1000 ? el('a', { href: '#exceptions?limit=' + Math.min(1000, rows.length * 10), text: 'Show more' }) : null)
              : null);
        }));
      }

      // ---- throughput ----
      const SERIES = [
        { key: 'eventsPerSecond', title: 'Events ingested per second', what: 'sales, returns, receipts, adjustments and counts received', unit: '/s', color: '#2563eb' },
        { key: 'lookupsPerSecond', title: 'Availability lookups per second', what: 'storefront calls asking what can be sold', unit: '/s', color: '#0d9488' },
        { key: 'lookupP99Ms', title: 'Lookup latency, 99th percentile', what: '99 of every 100 lookups were answered at least this fast', unit: 'ms', color: '#c2410c' },
      ];

      function renderThroughput(t) {
        const count = t.times.length;
        byId('sparklines').replaceChildren(...SERIES.map((series) => {
          const values = t[series.key];
          const present = values.filter((v) => v !== null);
          const last = count > 0 ? values[count - 1] : null;
          const peak = present.length ? Math.max(...present) : null;
          const mean = present.length ? present.reduce((a, b) => a + b, 0) / present.length : null;
          const span = Math.max(60, count);
          return el('section', { class: 'spark-card', 'data-series': series.key, 'data-samples': count },
            el('div', { class: 'spark-top' },
              el('div', null, el('h2', { text: series.title }), el('div', { class: 'what', text: series.what })),
              el('div', { class: 'spark-now', 'data-field': 'now' }, last === null ? '–' : rate(last),
                el('small', { text: last === null && count > 0 ? 'no lookups this second' : series.unit + ' now' }))),
            sparkline(values, span, series.color),
            el('div', { class: 'axis' },
              el('span', { text: span >= 120 ? Math.round(span / 60) + ' min ago' : span + ' s ago' }),
              el('span', { class: 'spark-stats', 'data-field': 'peak',
                text: present.length ? 'peak ' + rate(peak) + ' · average ' + rate(mean) + ' ' + series.unit + ' over ' + duration(count * 1000) : 'no data yet' }),
              el('span', { text: 'now' })));
        }));
      }

      function sparkline(values, span, color) {
        const width = 1000, height = 100;
        const svg = document.createElementNS(SVG, 'svg');
        svg.setAttribute('class', 'spark');
        svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
        svg.setAttribute('preserveAspectRatio', 'none');
        svg.setAttribute('role', 'img');
        const present = values.filter((v) => v !== null);
        const top = Math.max(...present, 0) * 1.12 || 1;
        for (const y of [0.5, 1]) {
          const line = document.createElementNS(SVG, 'line');
          line.setAttribute('class', 'grid');
          line.setAttribute('x1', 0); line.setAttribute('x2', width);
          line.setAttribute('y1', height * y - 0.5); line.setAttribute('y2', height * y - 0.5);
          svg.append(line);
        }
        const offset = span - values.length;
        const x = (i) => ((offset + i) / Math.max(1, span - 1)) * width;
        const y = (v) => height - (v / top) * (height - 4) - 1;
        let run = [];
        const runs = [];
        values.forEach((v, i) => {
          if (v === null) { if (run.length) runs.push(run); run = []; } else run.push([x(i), y(v)]);
        });
        if (run.length) runs.push(run);
        for (const points of runs) {
          if (points.length === 1) points.push([points[0][0] + 2, points[0][1]]);
          const path = points.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join(' ');
          const area = document.createElementNS(SVG, 'path');
          area.setAttribute('class', 'area');
          area.setAttribute('fill', color);
          area.setAttribute('d', path + ' L' + points[points.length - 1][0].toFixed(1) + ' ' + height + ' L' + points[0][0].toFixed(1) + ' ' + height + ' Z');
          const line = document.createElementNS(SVG, 'path');
          line.setAttribute('class', 'line');
          line.setAttribute('stroke', color);
          line.setAttribute('d', path);
          svg.append(area, line);
        }
        return svg;
      }

      // ---- start ----
      document.addEventListener('DOMContentLoaded', () => {
        byId('sku-form').addEventListener('submit', (event) => {
          event.preventDefault();
          const sku = byId('sku').value.trim();
          location.hash = 'availability' + (sku ? '?sku=' + encodeURIComponent(sku) : '');
        });
        window.addEventListener('hashchange', show);
        show();
      });
    })();
    """#
}
