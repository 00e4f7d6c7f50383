/*
 * Flex sandbox: SenseJS-compatible widget (served at /widget.js; see docs/checkout.md).
 *
 * Loaded by Flex's documented snippet, which defines a queueing stub `window.fc` and calls
 * fc('init', MID, siteId). This file replaces the stub, replays the queued calls, collects device,
 * timezone and page-load signals once the page has loaded, POSTs them to <sandbox>/sense/collect and
 * exposes the session key it gets back. Everything after `init` is ours (Flex does not document it):
 *   fc('onSenseKey', function (key) {...})   call back once the key is known (at once if it is)
 *   fc('getSenseKey')                         the key, or null while it is pending
 *   document event 'fc:sensekey' (detail.senseKey), 'fc:senseerror' (detail.status)
 * It never reads form fields, storage or cookies: no card data, token or order data leaves through it.
 */
(function (w, d) {
  'use strict';
  var started = w.performance && w.performance.now ? w.performance.now() : 0;
  var name = w['JS-Widget'] || 'fc';
  var script = d.currentScript || d.getElementById(name);
  var src = script && script.src ? script.src : w.location.href;
  var endpoint = new URL('/sense/collect', src).href;
  var stub = w[name];
  var queued = stub && stub.q ? Array.prototype.slice.call(stub.q) : [];
  var state = { mid: null, siteId: null, key: null, listeners: [], sent: false };

  function ms(value) {
    return typeof value === 'number' && value > 0 ? Math.round(value) : 0;
  }

  function timing() {
    var nav = w.performance && w.performance.getEntriesByType
      ? w.performance.getEntriesByType('navigation')[0] : null;
    if (nav) {
      return {
        domInteractiveMs: ms(nav.domInteractive),
        domContentLoadedMs: ms(nav.domContentLoadedEventEnd),
        loadMs: ms(nav.loadEventEnd),
        widgetMs: ms(started)
      };
    }
    var t = w.performance && w.performance.timing;
    var zero = t ? t.navigationStart : 0;
    return {
      domInteractiveMs: t ? ms(t.domInteractive - zero) : 0,
      domContentLoadedMs: t ? ms(t.domContentLoadedEventEnd - zero) : 0,
      loadMs: t ? ms(t.loadEventEnd - zero) : 0,
      widgetMs: ms(started)
    };
  }

  function signals() {
    var s = w.screen || {};
    var tz = '';
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { tz = ''; }
    return {
      mid: state.mid,
      siteId: state.siteId,
      timezone: tz,
      timezoneOffset: new Date().getTimezoneOffset(),
      screen: {
        width: s.width, height: s.height, availWidth: s.availWidth, availHeight: s.availHeight,
        colorDepth: s.colorDepth, pixelRatio: w.devicePixelRatio || 1
      },
      userAgent: w.navigator.userAgent,
      language: w.navigator.language || null,
      languages: w.navigator.languages ? Array.prototype.slice.call(w.navigator.languages, 0, 20) : null,
      page: w.location.origin + w.location.pathname,
      timing: timing(),
      widgetVersion: 'sandbox-1'
    };
  }

  function emit(type, detail) {
    try { d.dispatchEvent(new CustomEvent(type, { detail: detail })); } catch (e) { /* old browsers */ }
  }

  function done(key) {
    state.key = key;
    var listeners = state.listeners;
    state.listeners = [];
    for (var i = 0; i < listeners.length; i++) {
      try { listeners[i](key); } catch (e) { /* a page callback must not stop the others */ }
    }
    emit('fc:sensekey', { senseKey: key });
  }

  function send(attempt) {
    w.fetch(endpoint, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(signals())
    }).then(function (r) {
      if (!r.ok) {
        if (r.status >= 500 && attempt < 2) { setTimeout(function () { send(attempt + 1); }, 300); return null; }
        emit('fc:senseerror', { status: r.status });
        return null;
      }
      return r.json().then(function (body) { done(body.senseKey); });
    }).catch(function () {
      if (attempt < 2) { setTimeout(function () { send(attempt + 1); }, 300); return; }
      emit('fc:senseerror', { status: 0 });
    });
  }

  function whenLoaded(fn) {
    // After `load` has finished, so loadEventEnd is known.
    if (d.readyState === 'complete') { setTimeout(fn, 0); return; }
    w.addEventListener('load', function () { setTimeout(fn, 0); });
  }

  function api(command) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (command === 'init') {
      if (state.sent) { return undefined; } // init runs once per page
      state.sent = true;
      state.mid = String(args[0] || '');
      state.siteId = args[1] ? String(args[1]) : null;
      whenLoaded(function () { send(1); });
    } else if (command === 'onSenseKey' && typeof args[0] === 'function') {
      if (state.key) { args[0](state.key); } else { state.listeners.push(args[0]); }
    } else if (command === 'getSenseKey') {
      return state.key;
    }
    return undefined;
  }

  w[name] = api;
  for (var i = 0; i < queued.length; i++) { api.apply(null, queued[i]); }
})(window, document);
