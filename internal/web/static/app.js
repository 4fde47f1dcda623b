// Vargate dashboard: keeps the live parts of a page fresh by polling HTML
// fragments the server rendered (and escaped), and asks before destructive
// form posts. Pages work without it.
(function () {
  'use strict';

  var interval = parseInt(document.body.getAttribute('data-poll'), 10) || 3000;

  function get(url) {
    return fetch(url, {
      headers: { 'X-Requested-With': 'vargate' },
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (r) {
      if (r.status === 401) {
        // The session ended: the reload lands on the sign-in page.
        window.location.reload();
        throw new Error('signed out');
      }
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r;
    });
  }

  // dirty reports whether the person is using a form inside el, so that
  // a refresh does not throw away what they typed.
  function dirty(el) {
    var a = document.activeElement;
    if (a && a !== document.body && el.contains(a) && /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(a.tagName)) {
      return true;
    }
    var fields = el.querySelectorAll('input[type=text], textarea');
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value) { return true; }
    }
    return false;
  }

  function schedule(fn) {
    window.setTimeout(function () {
      if (document.hidden) { schedule(fn); return; }
      fn().catch(function () {}).then(function () { schedule(fn); });
    }, interval);
  }

  // data-live="replace": the element's content is replaced by the fragment
  // at data-src when its data-version changes.
  document.querySelectorAll('[data-live=replace]').forEach(function (el) {
    schedule(function () {
      return get(el.getAttribute('data-src')).then(function (r) { return r.text(); }).then(function (html) {
        var t = document.createElement('template');
        t.innerHTML = html;
        var next = t.content.firstElementChild;
        var cur = el.firstElementChild;
        var nv = next && next.getAttribute('data-version');
        var cv = cur && cur.getAttribute('data-version');
        if (nv !== null && nv === cv) { return; }
        if (dirty(el)) {
          var notice = document.getElementById(el.getAttribute('data-notice'));
          if (notice) { notice.classList.remove('hidden'); }
          return;
        }
        el.replaceChildren(t.content);
      });
    });
  });

  // data-live="prepend": entries newer than data-after are fetched from
  // data-src?after=N and put on top; the server says the new N in
  // X-Timeline-After.
  document.querySelectorAll('[data-live=prepend]').forEach(function (el) {
    schedule(function () {
      var after = el.getAttribute('data-after') || '0';
      var src = el.getAttribute('data-src') + '?after=' + encodeURIComponent(after);
      return get(src).then(function (r) {
        var next = r.headers.get('X-Timeline-After');
        return r.text().then(function (html) {
          if (!html.trim()) { return; }
          var t = document.createElement('template');
          t.innerHTML = html;
          var items = t.content.querySelectorAll('li');
          items.forEach(function (li) { li.classList.add('ev-new'); });
          var ph = el.querySelector('[data-placeholder]');
          if (ph) { ph.remove(); }
          el.prepend(t.content);
          if (next) { el.setAttribute('data-after', next); }
        });
      });
    });
  });

  // Forms (or their buttons) with data-confirm ask first.
  document.addEventListener('submit', function (e) {
    var msg = (e.submitter && e.submitter.getAttribute('data-confirm')) || e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  // The key form shows the agent picker only for agent keys.
  var role = document.getElementById('key-role');
  var agentField = document.getElementById('key-agent');
  if (role && agentField) {
    var sync = function () { agentField.classList.toggle('hidden', role.value !== 'agent'); };
    role.addEventListener('change', sync);
    sync();
  }
})();
