/* Intake form (docs/intake-form.md): checks the answers, encrypts them (JWE), posts only
   ciphertext. Nothing typed goes to a URL, cookie, storage or log. */
(() => {
  'use strict';
  const form = document.querySelector('form[data-intake]');
  const cr = window.crypto;
  if (!form || !form.dataset.key || !cr || !cr.subtle || !cr.randomUUID) return;
  const subtle = cr.subtle;
  const d = form.dataset;
  const $ = (s, root) => (root || form).querySelector(s);
  const $$ = (s, root) => Array.from((root || form).querySelectorAll(s));
  const utf8 = (s) => new TextEncoder().encode(s);
  const button = $('[data-intake-submit]');
  const title = document.title;
  let key;
  let sid;
  let sent = '';
  let busy = false;

  const b64u = (buf) => {
    let s = '';
    new Uint8Array(buf).forEach((b) => { s += String.fromCharCode(b); });
    return btoa(s).replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_');
  };

  const inputsOf = (w) => $$('input,textarea', w);
  const isChoice = (input) => input.type === 'checkbox' || input.type === 'radio';
  const checked = (w) => inputsOf(w).filter((i) => i.checked).map((i) => i.value);

  // Required now? "contact:phone sms": when contact has phone or sms ticked.
  const required = (w) => {
    const rule = w.dataset.requiredIf;
    if (!rule) return 'required' in w.dataset;
    const [name, values] = rule.split(':');
    const other = $('[data-field="' + name + '"]');
    return !!other && checked(other).some((v) => values.split(' ').includes(v));
  };

  const describe = (el, id, on) => {
    const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== id);
    if (on) ids.push(id);
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  };

  const setError = (w, message) => {
    const inputs = inputsOf(w);
    const error = $('.intake-error', w);
    error.hidden = !message;
    error.lastChild.textContent = message;
    w.classList.toggle('intake-field--error', !!message);
    describe($('fieldset', w) || inputs[0], error.id, !!message);
    inputs.forEach((i) => {
      if (message) i.setAttribute('aria-invalid', 'true');
      else i.removeAttribute('aria-invalid');
    });
  };

  const validate = () => {
    const errors = [];
    $$('[data-field]').forEach((w) => {
      const first = inputsOf(w)[0];
      const empty = isChoice(first) ? !checked(w).length : !first.value.trim();
      let message = '';
      if (empty) {
        if (required(w)) message = w.dataset.errorRequired;
      } else if (!isChoice(first) && !first.checkValidity()) {
        message = w.dataset.errorInvalid || '';
      }
      setError(w, message);
      if (message) errors.push([first, message]);
    });
    return errors;
  };

  const showSummary = (errors) => {
    const box = $('[data-intake-summary]');
    const list = $('ul', box);
    list.textContent = '';
    errors.forEach(([input, message]) => {
      const a = document.createElement('a');
      a.href = '#' + input.id;
      a.textContent = message;
      const li = document.createElement('li');
      li.append(a);
      list.append(li);
    });
    box.hidden = !errors.length;
    document.title = (errors.length ? 'Error: ' : '') + title;
    if (errors.length) box.focus();
  };

  const payload = () => {
    const fields = {};
    const consent = {};
    $$('[data-field]').forEach((w) => {
      const name = w.dataset.field;
      const type = w.dataset.type;
      if (type === 'consent') consent[w.dataset.channel] = checked(w).length > 0;
      else if (type === 'checkboxes') fields[name] = checked(w);
      else if (type === 'radios') fields[name] = checked(w)[0] || '';
      else fields[name] = inputsOf(w)[0].value;
    });
    consent.wording_version = d.wordingVersion || '';
    const trap = $('[data-intake-trap]');
    return {
      v: 1, form: d.form, sid, submitted_at: new Date().toISOString(), page: location.pathname,
      lang: document.documentElement.lang, likely_spam: !!(trap && trap.value), fields, consent,
    };
  };

  // Compact JWE: new AES key and IV per attempt, wrapped with RSA-OAEP-256, header as AAD.
  const encrypt = async (data) => {
    const header = b64u(utf8(JSON.stringify({
      alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: d.kid, cty: 'application/json', sid,
    })));
    const cek = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    const iv = cr.getRandomValues(new Uint8Array(12));
    const wrapped = await subtle.encrypt({ name: 'RSA-OAEP' }, key, await subtle.exportKey('raw', cek));
    const sealed = new Uint8Array(await subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(header), tagLength: 128 }, cek, utf8(JSON.stringify(data)),
    ));
    return [header, b64u(wrapped), b64u(iv), b64u(sealed.slice(0, -16)), b64u(sealed.slice(-16))].join('.');
  };

  // ok (2xx, 409), busy (429, 5xx), refused (4xx), timeout (15 s), network.
  const send = async (jwe) => {
    const control = new AbortController();
    const timer = setTimeout(() => control.abort(), 15000);
    try {
      const response = await fetch(d.endpoint, {
        method: 'POST',
        body: new URLSearchParams({ form: d.form, submission_id: sid, jwe }),
        headers: { Accept: 'application/json' },
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
        signal: control.signal,
      });
      const s = response.status;
      if (response.ok || s === 409) return 'ok';
      return s === 429 || s >= 500 ? 'busy' : 'refused';
    } catch {
      return control.signal.aborted ? 'timeout' : 'network';
    } finally {
      clearTimeout(timer);
    }
  };

  const showAlert = (reason) => {
    const box = $('[data-intake-alert]');
    $$('[data-intake-reason]', box).forEach((p) => { p.hidden = p.dataset.intakeReason !== reason; });
    $('[data-intake-retry-hint]', box).hidden = reason === 'refused';
    box.hidden = !reason;
  };

  const succeed = () => {
    form.reset();
    sid = sent = '';
    $('[data-intake-body]').hidden = true;
    const done = $('[data-intake-success]');
    done.hidden = false;
    done.focus();
  };

  const submit = async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    let outcome = '';
    try {
      showAlert('');
      const errors = validate();
      showSummary(errors);
      if (errors.length) return;
      // A filled trap is sent, flagged. Changed answers get a new id (the last may be stored).
      const data = payload();
      const ans = JSON.stringify([data.fields, data.consent, data.likely_spam]);
      if (ans !== sent) sid = cr.randomUUID();
      sent = ans;
      data.sid = sid;
      button.textContent = button.dataset.sending;
      button.setAttribute('aria-disabled', 'true');
      try {
        outcome = await send(await encrypt(data));
      } catch {
        outcome = 'refused';
      }
      if (outcome === 'ok') succeed();
      else showAlert(outcome);
    } finally {
      busy = false;
      button.removeAttribute('aria-disabled');
      const b = button.dataset;
      button.textContent = ['busy', 'timeout', 'network'].includes(outcome) ? b.retry : b.label;
    }
  };

  const focusField = (event) => {
    const link = event.target.closest('a');
    const target = link && document.getElementById(link.hash.slice(1));
    if (!target) return;
    event.preventDefault();
    const w = target.closest('[data-field]');
    (w || target).scrollIntoView();
    target.focus({ preventScroll: true });
  };

  subtle.importKey(
    'spki', Uint8Array.from(atob(d.key), (c) => c.charCodeAt(0)),
    { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt'],
  ).then((k) => {
    key = k;
    form.addEventListener('submit', submit);
    $('[data-intake-summary]').addEventListener('click', focusField);
    $('[data-intake-fallback]').hidden = true;
    $('[data-intake-body]').hidden = false;
  }, () => {});
})();
