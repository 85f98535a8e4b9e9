(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('data').textContent);
  var cols = D.cols, rows = D.rows, S = D.states, dims = D.dims;
  var ROWH = 24, OVER = 12;
  var $ = function (id) { return document.getElementById(id); };
  var scroller = $('scroller'), vbody = $('vrows'), panel = $('panel');
  var q = $('q'), group = $('group'), gval = $('gval'), capSel = $('cap'), risk = $('risk'), sortSel = $('sort'), unused = $('unused'), count = $('count');
  var view = [];      // items: row index, or {g: label, n: count}
  var act = { r: -1, c: -1 }; // the active cell: index in view, column (-1: the name)
  var opened = -1, measured = false;

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (ch) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[ch]; });
  }
  rows.forEach(function (r) {
    r.t = (r.n + ' ' + (r.i || '') + ' ' + r.g.join(' ')).toLowerCase();
  });

  function apply() {
    var text = q.value.trim().toLowerCase();
    var gd = group.value ? dims.indexOf(group.value) : -1;
    var gv = gval.value, c = capSel.value === '' ? -1 : +capSel.value, minRisk = +risk.value, onlyUnused = unused.checked;
    var idx = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (text && r.t.indexOf(text) < 0) continue;
      if (gd >= 0 && gv && r.g[gd] !== gv) continue;
      if (c >= 0 && r.c[c] === '.') continue;
      if (minRisk && r.m < minRisk) continue;
      if (onlyUnused && !r.u) continue;
      idx.push(i);
    }
    var key = sortSel.value;
    var by = {
      risk: function (a, b) { return a - b; },
      name: function (a, b) { return rows[a].n < rows[b].n ? -1 : rows[a].n > rows[b].n ? 1 : a - b; },
      unused: function (a, b) { return rows[b].u - rows[a].u || a - b; },
      held: function (a, b) { return rows[b].h - rows[a].h || a - b; }
    }[key];
    if (c >= 0 && key === 'risk') {
      // Rows with the chosen capability in the most telling state first.
      var rank = { u: 0, U: 0, h: 1, H: 1, s: 2, S: 2, b: 3, B: 3, m: 4, M: 4, n: 5, N: 5, i: 6, I: 6, d: 7, D: 7 };
      by = function (a, b) { return (rank[rows[a].c[c]] || 9) - (rank[rows[b].c[c]] || 9) || a - b; };
    }
    idx.sort(by);
    view = [];
    if (gd >= 0) {
      var groups = {}, order = [];
      idx.forEach(function (i) {
        var g = rows[i].g[gd] || '(none)';
        if (!groups[g]) { groups[g] = []; order.push(g); }
        groups[g].push(i);
      });
      order.sort();
      order.forEach(function (g) {
        view.push({ g: g, n: groups[g].length });
        view.push.apply(view, groups[g]);
      });
    } else {
      view = idx;
    }
    count.textContent = 'showing ' + idx.length + ' of ' + rows.length + ' containers';
    $('matrix').setAttribute('aria-rowcount', String(idx.length));
    act.r = Math.min(act.r, view.length - 1);
    Array.prototype.forEach.call(document.querySelectorAll('th.cap'), function (th) {
      th.setAttribute('aria-pressed', String(+th.getAttribute('data-col') === c));
    });
    render();
  }

  function label(r, ci) {
    var code = r.c[ci], lower = code.toLowerCase();
    return cols[ci].n + ': ' + S[lower].w + (code !== lower ? ', asked for in the configuration' : '');
  }

  // Cells are bare: the active cell carries its description for assistive
  // technology, and a hovered cell gets its tooltip when hovered.
  function cellHTML(r, ci, rowPos) {
    var code = r.c[ci], lower = code.toLowerCase();
    var cls = 's-' + (lower === '.' ? '' : lower) + (code !== lower ? ' cfg' : '');
    if (rowPos === act.r && ci === act.c) {
      return '<td role="gridcell" id="act" class="act ' + cls + '" aria-label="' + esc(label(r, ci)) + '">' + (lower === '.' ? '·' : S[lower].s) + '</td>';
    }
    return '<td class="' + cls + '">' + (lower === '.' ? '·' : S[lower].s) + '</td>';
  }

  function render() {
    var top = scroller.scrollTop, h = scroller.clientHeight || 600;
    var first = Math.max(0, Math.floor(top / ROWH) - OVER);
    var last = Math.min(view.length, Math.ceil((top + h) / ROWH) + OVER);
    var out = [];
    var span = cols.length + 1;
    if (first > 0) out.push('<tr class="sp" aria-hidden="true"><td colspan="' + span + '" style-h="' + first * ROWH + '"></td></tr>');
    for (var p = first; p < last; p++) {
      var it = view[p];
      if (typeof it === 'object') {
        out.push('<tr class="grp" data-p="' + p + '"><th scope="rowgroup">' + esc(it.g) + ' <span class="muted">(' + it.n + ')</span></th><td colspan="' + cols.length + '"></td></tr>');
        continue;
      }
      var r = rows[it];
      var name = '<th scope="row"' + (p === act.r && act.c < 0 ? ' id="act" class="act"' : '') + ' title="' + esc(r.n) + '">' + esc(r.n) + '</th>';
      var cells = [];
      for (var ci = 0; ci < cols.length; ci++) cells.push(cellHTML(r, ci, p));
      out.push('<tr role="row" data-k="' + r.k + '" data-p="' + p + '" aria-rowindex="' + (p + 1) + '"' + (it === opened ? ' class="sel"' : '') + '>' + name + cells.join('') + '</tr>');
    }
    if (last < view.length) out.push('<tr class="sp" aria-hidden="true"><td colspan="' + span + '" style-h="' + (view.length - last) * ROWH + '"></td></tr>');
    vbody.innerHTML = out.join('');
    if (!measured) {
      var tr = vbody.querySelector('tr[role=row]');
      if (tr && tr.offsetHeight && tr.offsetHeight !== ROWH) { ROWH = tr.offsetHeight; measured = true; render(); return; }
      if (tr) measured = true;
    }
    // Spacer heights through the CSSOM: the page's policy allows no style attribute.
    Array.prototype.forEach.call(vbody.querySelectorAll('td[style-h]'), function (td) {
      td.style.height = td.getAttribute('style-h') + 'px';
    });
    if (document.getElementById('act')) scroller.setAttribute('aria-activedescendant', 'act');
    else scroller.removeAttribute('aria-activedescendant');
  }

  function fillGroupValues() {
    var gd = dims.indexOf(group.value), seen = {}, vals = [];
    gval.innerHTML = '<option value="">all groups</option>';
    if (gd < 0) return;
    rows.forEach(function (r) { var v = r.g[gd]; if (v && !seen[v]) { seen[v] = 1; vals.push(v); } });
    vals.sort().forEach(function (v) {
      var o = document.createElement('option');
      o.value = v; o.textContent = v;
      gval.appendChild(o);
    });
  }

  // A container's details wait, unparsed, in its noscript element.
  function detailsOf(i) {
    var ns = document.getElementById('d-' + rows[i].k);
    return ns ? ns.textContent : '';
  }
  function open(i) {
    panel.innerHTML = '<button type="button" class="close" aria-label="close the details">✕ close</button>' + detailsOf(i);
    var art = panel.querySelector('article');
    if (art) art.removeAttribute('id');
    panel.classList.add('open');
    panel.querySelector('button.close').addEventListener('click', close);
    opened = i;
    render();
  }
  function close() {
    panel.classList.remove('open');
    panel.innerHTML = '';
    opened = -1;
    render();
    scroller.focus();
  }

  function moveTo(r, c) {
    if (!view.length) return;
    r = Math.max(0, Math.min(view.length - 1, r));
    c = Math.max(-1, Math.min(cols.length - 1, c));
    act.r = r; act.c = c;
    var y = r * ROWH, head = $('matrix').tHead.offsetHeight;
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + ROWH + head > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y + ROWH + head - scroller.clientHeight;
    render();
  }

  // Print the whole static page: every row and every container.
  window.addEventListener('beforeprint', function () {
    var parts = [$('static').textContent, '<h2>Containers</h2>'];
    for (var i = 0; i < rows.length; i++) parts.push(detailsOf(i));
    $('print').innerHTML = parts.join('');
  });
  window.addEventListener('afterprint', function () { $('print').innerHTML = ''; });
  $('controls').addEventListener('submit', function (e) { e.preventDefault(); });
  scroller.setAttribute('tabindex', '0');
  scroller.addEventListener('scroll', function () { window.requestAnimationFrame(render); });
  scroller.addEventListener('focus', function () { if (act.r < 0 && view.length) moveTo(0, -1); });
  scroller.addEventListener('keydown', function (e) {
    var page = Math.max(1, Math.floor(scroller.clientHeight / ROWH) - 2);
    var k = e.key, r = act.r, c = act.c;
    if (k === 'ArrowDown') r++;
    else if (k === 'ArrowUp') r--;
    else if (k === 'ArrowRight') c++;
    else if (k === 'ArrowLeft') c--;
    else if (k === 'PageDown') r += page;
    else if (k === 'PageUp') r -= page;
    else if (k === 'Home') { if (e.ctrlKey) r = 0; c = -1; }
    else if (k === 'End') { if (e.ctrlKey) r = view.length - 1; c = cols.length - 1; }
    else if (k === 'Enter' || k === ' ') {
      if (typeof view[r] === 'number') open(view[r]);
      e.preventDefault();
      return;
    } else return;
    e.preventDefault();
    moveTo(r, c);
  });
  vbody.addEventListener('click', function (e) {
    var tr = e.target.closest('tr[data-p]');
    if (!tr) return;
    var p = +tr.getAttribute('data-p'), td = e.target.closest('td');
    moveTo(p, td && td.cellIndex > 0 ? td.cellIndex - 1 : -1);
    if (typeof view[p] === 'number') open(view[p]);
  });
  vbody.addEventListener('mouseover', function (e) {
    var td = e.target.closest('td'), tr = td && td.closest('tr[data-p]');
    if (!tr || td.cellIndex < 1 || td.title) return;
    var it = view[+tr.getAttribute('data-p')];
    if (typeof it === 'number') td.title = label(rows[it], td.cellIndex - 1);
  });
  document.querySelector('#matrix thead').addEventListener('click', function (e) {
    var th = e.target.closest('th.cap');
    if (!th) return;
    var c = th.getAttribute('data-col');
    capSel.value = capSel.value === c ? '' : c;
    apply();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === '/' && document.activeElement !== q) { e.preventDefault(); q.focus(); }
    else if (e.key === 'Escape' && panel.classList.contains('open')) close();
  });
  [q, gval, capSel, risk, sortSel, unused].forEach(function (el) { el.addEventListener('input', apply); el.addEventListener('change', apply); });
  group.addEventListener('change', function () { fillGroupValues(); apply(); });
  if (dims.length && D.group) { group.value = D.group; fillGroupValues(); }
  apply();
  document.documentElement.setAttribute('data-ready', 'true');
  if (window.performance && performance.mark) performance.mark('capdrop-ready');
})();
