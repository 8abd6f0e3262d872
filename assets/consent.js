/*! Guichet consent.js 1.0.0 | AGPL-3.0-or-later
 * Connects a stock cookie banner already on the page (tarteaucitron.js,
 * Orejime, Klaro, vanilla-cookieconsent) to Guichet's consent API:
 * <script src="https://GUICHET/v1/tenants/TENANT/consent.js"
 *         data-banner="tarteaucitron|orejime|klaro|vanilla-cookieconsent" defer>
 * One GET …/consent-state on load, with a random subject id kept in
 * localStorage. A consent in force is restored into the banner, which then
 * stays hidden; otherwise the banner asks. The banner's services are the
 * tenant's purposes, grouped by category. Each decision is one POST
 * …/consents (a burst of banner events is one decision) with an
 * Idempotency-Key kept for its retries; the banner's reset withdraws
 * (DELETE). The page's options for Orejime, Klaro or vanilla-cookieconsent
 * go in window.guichetBannerOptions; tarteaucitron's in its own init(). window.Guichet: subjectId(), consent(), receipt(),
 * showReceipt(), withdraw(), status(), error(). */
(function (w, d) {
  'use strict';
  var VERSION = '1.0.0';
  var KEY = 'guichet.subject_id';
  var me = d.currentScript;
  var at = me && /^(.*)\/v1\/tenants\/([a-z0-9-]{2,40})\/consent\.js(?:[?#].*)?$/.exec(me.src);
  var base = at ? at[1] + '/v1/tenants/' + at[2] : '';
  var kind = me ? me.getAttribute('data-banner') : '';
  var en = /^en/i.test(d.documentElement.lang || '');
  var T = en ? {
    essential: 'Essential', analytics: 'Audience measurement', social: 'Social networks',
    advertising: 'Advertising', functional: 'Functional', other: 'Other',
    title: 'Your cookie choices', ask: 'Choose which purposes you accept.',
    all: 'Accept all', none: 'Refuse all', choose: 'Choose', save: 'Save my choices', close: 'Close',
    receipt: 'Your consent receipt', quote: 'Quote these identifiers in a request about your data.',
    subject: 'Visitor id', consent: 'Consent', given: 'Given at', expires: 'Expires at',
    choices: 'Choices', yes: 'yes', no: 'no', jws: 'Signed receipt (JWS)', nothing: 'No consent is recorded.'
  } : {
    essential: 'Nécessaires', analytics: 'Mesure d\'audience', social: 'Réseaux sociaux',
    advertising: 'Publicité', functional: 'Fonctionnalités', other: 'Autres',
    title: 'Vos choix en matière de cookies', ask: 'Choisissez les finalités que vous acceptez.',
    all: 'Tout accepter', none: 'Tout refuser', choose: 'Personnaliser', save: 'Enregistrer mes choix',
    close: 'Fermer', receipt: 'Le reçu de votre consentement',
    quote: 'Citez ces identifiants dans une demande au sujet de vos données.',
    subject: 'Identifiant du visiteur', consent: 'Consentement', given: 'Donné le', expires: 'Expire le',
    choices: 'Choix', yes: 'oui', no: 'non', jws: 'Reçu signé (JWS)', nothing: 'Aucun consentement enregistré.'
  };
  var policy = null, current = null, state = 'loading', problem = '', muted = 0, timer = 0;
  var chain = Promise.resolve(), banner = null, memoryId = '', saved = {}, tacUi = false, tacWait = null;

  function uuid() {
    var c = w.crypto, b, h = '', i;
    if (c.randomUUID) { return c.randomUUID(); }
    b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) { h += (b[i] + 256).toString(16).slice(1); }
    return h.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
  }

  function subjectId() {
    var id;
    try {
      id = w.localStorage.getItem(KEY);
      if (!/^[0-9a-f-]{36}$/.test(id || '')) { id = uuid(); w.localStorage.setItem(KEY, id); }
    } catch (e) {
      id = memoryId = memoryId || uuid();
    }
    return id;
  }

  function own(o) { return Object.assign({}, o); }
  // Markup-safe text (apostrophes kept: some banners show a label both as
  // HTML and as text).
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
  }
  function cat(p) { return p.category || (p.essential ? 'essential' : 'other'); }
  function key(p) { return 'guichet_' + p.id; }

  // The policy's purposes by category, in the policy's order.
  function groups() {
    var out = [], seen = {};
    policy.purposes.forEach(function (p) {
      var c = cat(p);
      if (!seen[c]) { out.push(seen[c] = { id: c, title: T[c] || c, purposes: [], essential: true }); }
      seen[c].purposes.push(p);
      seen[c].essential = seen[c].essential && !!p.essential;
    });
    return out;
  }

  function set(s, detail) {
    state = s;
    d.dispatchEvent(new CustomEvent('guichet:' + s, { detail: detail }));
  }
  function fail(e) {
    problem = String((e && e.message) || e);
    set('error', problem);
    if (w.console) { w.console.warn('Guichet consent.js: ' + problem); }
  }
  function mute(f) {
    muted++;
    try { return f(); } finally { muted--; }
  }
  function when(test) {
    return new Promise(function (ok) {
      function check() { if (test()) { ok(); } }
      check();
      d.addEventListener('DOMContentLoaded', check);
      w.addEventListener('load', check);
    });
  }
  function queue(job) {
    chain = chain.then(job).catch(fail);
    return chain;
  }
  function detail(r) {
    return 'HTTP ' + r.status + (r.body && r.body.detail ? ': ' + r.body.detail : '');
  }

  // One exchange with Guichet. A write is tried again, with the same body
  // and Idempotency-Key, after a network failure, a 429 or a 5xx: four
  // tries, 0.5 s, 1 s and 2 s apart.
  function call(method, path, body, idem, tries) {
    var h = {};
    tries = tries || 0;
    if (body) { h['Content-Type'] = 'application/json'; }
    if (idem) { h['Idempotency-Key'] = idem; }
    return fetch(base + path, { method: method, headers: h, body: body, credentials: 'omit', keepalive: !!body })
      .then(function (r) {
        if (method !== 'GET' && tries < 3 && (r.status === 429 || r.status >= 500)) { throw r; }
        return r.json().then(function (j) { return { status: r.status, body: j }; },
          function () { return { status: r.status }; });
      })
      .catch(function (e) {
        if (method === 'GET' || tries >= 3) { throw e; }
        return new Promise(function (ok) { setTimeout(ok, 500 << tries); })
          .then(function () { return call(method, path, body, idem, tries + 1); });
      });
  }

  // Every purpose of the policy as the banner holds it (essential ones
  // accepted); null while the banner still waits for an answer.
  function choices() {
    var c = {}, i, p, v;
    for (i = 0; i < policy.purposes.length; i++) {
      p = policy.purposes[i];
      v = p.essential || banner.get(p);
      if (v !== true && v !== false) { return null; }
      c[p.id] = v;
    }
    return c;
  }

  // Banners report one decision as several events (tarteaucitron one per
  // service; Orejime an update before its reset): what the banner holds
  // once they have settled is the decision.
  function decided() {
    if (muted || !policy) { return; }
    clearTimeout(timer);
    timer = setTimeout(settle, 150);
  }
  function settle() {
    var c = timer && choices();
    clearTimeout(timer);
    timer = 0;
    if (c) { record(c); }
  }

  function record(c) {
    var idem = uuid();
    var body = JSON.stringify({
      subject_id: subjectId(),
      policy_version: policy.policy_version,
      choices: c,
      page_url: /^https?:$/.test(location.protocol) ? location.origin + location.pathname : undefined
    });
    return queue(function () {
      set('sending');
      return call('POST', '/consents', body, idem).then(function (r) {
        if (r.status !== 201) { throw new Error(detail(r)); }
        current = r.body;
        set('recorded', current);
      });
    });
  }

  function withdraw(fromBanner) {
    clearTimeout(timer);
    if (!fromBanner && banner && policy) { mute(banner.clear); }
    return queue(function () {
      set('sending');
      return call('DELETE', '/consents/' + subjectId()).then(function (r) {
        if (r.status !== 204 && r.status !== 404) { throw new Error(detail(r)); }
        current = null;
        set('withdrawn');
      });
    });
  }

  function cookie(name, value, o, until) {
    d.cookie = name + '=' + encodeURIComponent(value) + '; path=/; expires=' + until.toUTCString() +
      (o.domain ? '; domain=' + o.domain : '') + '; samesite=' + (o.sameSite || 'strict') +
      (location.protocol === 'https:' ? '; secure' : '');
  }

  var TAC_TYPES = { analytics: 'analytic', social: 'social', advertising: 'ads', functional: 'api' };
  // Whether tarteaucitron's interface is in the page: it then runs the
  // jobs pushed to it, its own push taking the place of the array's.
  function tacUp(tac) { return tac.job && tac.job.push !== Array.prototype.push; }
  var banners = {
    // The page calls tarteaucitron.init itself; each purpose becomes a
    // service of the type of its category once the library is ready.
    tarteaucitron: {
      // Its buttons take clicks only once a timer of its own (half a second
      // after its interface is in the page) has run, which then calls
      // events.load: the banner is ready from then on. Loaded after that
      // point, this script waits as long from its own start.
      prepare: function () {
        var tac = w.tarteaucitron, ev = tac.events = tac.events || {}, load = ev.load;
        function ready() {
          tacUi = true;
          if (tacWait) { tacWait(); }
        }
        ev.load = function () {
          if (load) { load.apply(this, arguments); }
          ready();
        };
        if (tacUp(tac)) { setTimeout(ready, 500); }
      },
      start: function (restore) {
        var tac = w.tarteaucitron;
        return new Promise(function (ok) {
          function add() {
            var job = tac.job = tac.job || [];
            policy.purposes.forEach(function (p) {
              var k = key(p);
              if (p.essential) { return; }
              tac.services[k] = { key: k, type: TAC_TYPES[cat(p)] || 'other', name: esc(p.name), uri: '',
                needConsent: true, cookies: [], js: function () {}, fallback: function () {} };
              tac.lang['desc-' + k] = esc(p.description);
              tac.cookie.create(k, restore ? restore[p.id] : 'wait');
              d.addEventListener(k + '_allowed', decided);
              d.addEventListener(k + '_disallowed', decided);
              job.push(k);
            });
            if (tacUi) { ok(); } else { tacWait = ok; }
          }
          if (tacUp(tac)) { add(); }
          else { w.addEventListener('tac.root_available', add); }
        });
      },
      get: function (p) { return w.tarteaucitron.state[key(p)]; },
      clear: function () {
        var tac = w.tarteaucitron, ui = tac.userInterface;
        policy.purposes.forEach(function (p) {
          var k = key(p);
          if (p.essential) { return; }
          delete tac.state[k];
          tac.cookie.create(k, 'wait');
          ui.removeClass(k + 'Line', 'tarteaucitronIsAllowed');
          ui.removeClass(k + 'Line', 'tarteaucitronIsDenied');
          ui.color(k, 'wait');
        });
        ui.openAlert();
      }
    },
    // consent.js adds the purposes to the page's options and starts
    // Orejime (window.orejime) itself.
    orejime: {
      prepare: function () {
        saved = w.guichetBannerOptions || w.orejimeConfig || {};
        w.orejimeConfig = undefined;
      },
      start: function (restore) {
        var cfg = own(saved), ck = cfg.cookie || {}, name = ck.name || 'eu-consent';
        cfg.purposes = groups().map(function (g) {
          return { id: 'guichet-' + g.id, title: g.title, purposes: g.purposes.map(function (p) {
            return { id: p.id, title: p.name, description: p.description, isMandatory: !!p.essential, cookies: [] };
          }) };
        });
        if (restore) { cookie(name, (ck.stringify || JSON.stringify)(restore), ck, new Date(current.expires_at)); }
        else { cookie(name, '', ck, new Date(0)); }
        return when(function () { return w.loadOrejime; }).then(function () {
          var o = w.orejime = w.loadOrejime(cfg);
          o.manager.on('update', decided);
          // Orejime's reset reports the defaults as an update first.
          o.manager.on('clear', function () { if (!muted) { withdraw(true); } });
        });
      },
      get: function (p) { return w.orejime.manager.getConsent(p.id); },
      clear: function () { w.orejime.manager.clearConsents(); }
    },
    // consent.js adds the services to the page's options and starts Klaro
    // (a klaroConfig of the page is taken over, its autoload turned off).
    klaro: {
      prepare: function () {
        saved = w.guichetBannerOptions || w.klaroConfig || {};
        if (w.klaroConfig) { w.klaroConfig.noAutoLoad = true; }
      },
      start: function (restore) {
        var K = w.klaro, cfg = own(saved), tr = cfg.translations = own(cfg.translations), titles = {}, mg, reset;
        delete cfg.noAutoLoad;
        groups().forEach(function (g) { titles[g.id] = { title: g.title, description: '' }; });
        ['zz', (d.documentElement.lang || 'fr').slice(0, 2)].forEach(function (l) {
          tr[l] = own(tr[l]);
          tr[l].purposes = Object.assign({}, titles, tr[l].purposes);
        });
        cfg.services = policy.purposes.map(function (p) {
          return { name: p.id, title: p.name, description: p.description, purposes: [cat(p)],
            required: !!p.essential, default: false };
        });
        mg = K.getManager(cfg);
        if (restore) {
          policy.purposes.forEach(function (p) { mg.updateConsent(p.id, restore[p.id]); });
          mg.saveAndApplyConsents('guichet');
        } else if (mg.confirmed) {
          mg.resetConsents();
        }
        mg.watch({ update: function (m, type) { if (type === 'saveConsents') { decided(); } } });
        reset = mg.resetConsents;
        mg.resetConsents = function () {
          reset.apply(mg, arguments);
          if (!muted) { withdraw(true); }
          K.show(cfg);
        };
        K.setup(cfg);
      },
      get: function (p) { return w.klaro.getManager().getConsent(p.id); },
      clear: function () { w.klaro.getManager().resetConsents(); }
    },
    // Each category is a banner category, each purpose one of its
    // services; consent.js calls CookieConsent.run with the page's options.
    // CookieConsent.reset(true) withdraws.
    'vanilla-cookieconsent': {
      start: function (restore) {
        var CC = w.CookieConsent, page = w.guichetBannerOptions || {}, cfg = own(page), cats = {}, sections = [];
        var lang = cfg.language = own(cfg.language || { default: en ? 'en' : 'fr' });
        var tr = lang.translations = own(lang.translations), reset = CC.reset;
        groups().forEach(function (g) {
          var services = {};
          g.purposes.forEach(function (p) { services[p.id] = { label: esc(p.name) }; });
          cats[g.id] = { enabled: g.essential, readOnly: g.essential, services: services };
          sections.push({ title: esc(g.title), linkedCategory: g.id, description: g.purposes.map(function (p) {
            return '<strong>' + esc(p.name) + '</strong> : ' + esc(p.description);
          }).join('<br>') });
        });
        cfg.categories = cats;
        if (!Object.keys(tr).length) { tr[lang.default] = {}; }
        Object.keys(tr).forEach(function (l) {
          var t, pm;
          if (typeof tr[l] !== 'object') { return; }
          t = tr[l] = own(tr[l]);
          t.consentModal = Object.assign({ title: T.title, description: T.ask, acceptAllBtn: T.all,
            acceptNecessaryBtn: T.none, showPreferencesBtn: T.choose }, t.consentModal);
          pm = t.preferencesModal = Object.assign({ title: T.title, acceptAllBtn: T.all, acceptNecessaryBtn: T.none,
            savePreferencesBtn: T.save, closeIconLabel: T.close }, t.preferencesModal);
          pm.sections = (pm.sections || []).concat(sections);
        });
        ['onFirstConsent', 'onChange'].forEach(function (n) {
          cfg[n] = function () {
            if (page[n]) { page[n].apply(this, arguments); }
            decided();
          };
        });
        cfg.autoShow = !restore && page.autoShow !== false;
        CC.reset = function (erase) {
          reset.call(CC, erase);
          if (erase && !muted) {
            withdraw(true);
            cfg.autoShow = true;
            CC.run(cfg);
          }
        };
        banners['vanilla-cookieconsent'].clear = function () {
          CC.reset(true);
          cfg.autoShow = true;
          return CC.run(cfg);
        };
        return CC.run(cfg).then(function () {
          if (!restore) {
            if (!CC.validConsent()) { return; }
            mute(function () { CC.reset(true); });
            return CC.run(cfg);
          }
          mute(function () {
            groups().forEach(function (g) {
              if (!g.essential) {
                CC.acceptService(g.purposes.filter(function (p) { return restore[p.id]; })
                  .map(function (p) { return p.id; }), g.id);
              }
            });
          });
        });
      },
      get: function (p) { return w.CookieConsent.acceptedService(p.id, cat(p)); }
    }
  };

  function showReceipt() {
    var c = current, box = d.createElement('dialog'), rows = [[T.subject, subjectId()]], names = {};
    (policy ? policy.purposes : []).forEach(function (p) { names[p.id] = p.name; });
    if (c) {
      rows.push([T.consent, c.consent_id], [T.given, c.given_at], [T.expires, c.expires_at],
        [T.choices, Object.keys(c.choices).map(function (id) {
          return (names[id] || id) + ' : ' + (c.choices[id] ? T.yes : T.no);
        }).join(', ')]);
    }
    box.className = 'guichet-receipt';
    box.setAttribute('aria-labelledby', 'guichet-receipt-title');
    box.style.maxWidth = '40em';
    box.innerHTML = '<h2 id="guichet-receipt-title">' + T.receipt + '</h2><p>' + T.quote + '</p><dl>' +
      rows.map(function (r) { return '<dt>' + r[0] + '</dt><dd><code>' + esc(r[1]) + '</code></dd>'; }).join('') +
      '</dl>' + (c ? '<label>' + T.jws + '<br><textarea readonly rows="5" style="width:100%">' + esc(c.receipt) +
      '</textarea></label>' : '<p>' + T.nothing + '</p>') +
      '<form method="dialog"><button>' + T.close + '</button></form>';
    box.addEventListener('close', function () { box.remove(); });
    d.body.appendChild(box);
    box.showModal();
  }

  w.Guichet = {
    version: VERSION,
    subjectId: subjectId,
    consent: function () { return current; },
    receipt: function () { return current ? current.receipt : null; },
    showReceipt: showReceipt,
    withdraw: function () { return withdraw(false); },
    status: function () { return state; },
    error: function () { return problem; }
  };

  try {
    if (!at) { throw new Error('load consent.js from …/v1/tenants/{tenant}/consent.js'); }
    banner = banners[kind];
    if (!banner) { throw new Error('data-banner is one of ' + Object.keys(banners).join(', ')); }
    if (banner.prepare) { banner.prepare(); }
  } catch (e) {
    return fail(e);
  }
  // A banner may reload the page right after a decision (tarteaucitron
  // does when a service already started is refused): the decision leaves
  // with the page (keepalive).
  w.addEventListener('pagehide', settle);
  call('GET', '/consent-state?subject_id=' + subjectId()).then(function (r) {
    var restore;
    if (r.status !== 200) { throw new Error(detail(r)); }
    policy = r.body.policy;
    current = r.body.current;
    restore = current && !r.body.needs_consent ? current.choices : null;
    return Promise.resolve(banner.start(restore)).then(function () {
      set(restore ? 'restored' : 'asking', current);
    });
  }).catch(fail);
})(window, document);
