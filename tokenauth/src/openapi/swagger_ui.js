// tokenauth's Swagger UI plugin. Swagger UI sends an apiKey scheme's value as it was entered,
// so a bare key pasted into the Authorize box of `TokenAuth` (`Authorization: Token <key>`)
// would go out without its keyword; for the http `bearer` scheme Swagger UI adds `Bearer`
// itself. This adds the keyword of each apiKey scheme that tokenauth registered when the value
// does not start with it. `keywords` maps a scheme name to its keyword.
//
// It runs after Swagger UI's bundle and before the page's own script calls
// `SwaggerUIBundle({...})`, and wraps that function so that the call installs the plugin.
(function (keywords) {
  'use strict';
  var bundle = window.SwaggerUIBundle;
  if (typeof bundle !== 'function') return;

  // What Python's `bytes.split()` (and so DRF, and tokenauth) takes for whitespace.
  var SPACE = ' \t\n\v\f\r';
  function isSpace(c) { return c !== '' && SPACE.indexOf(c) >= 0; }
  function trim(text) {
    var start = 0;
    var end = text.length;
    while (start < end && isSpace(text.charAt(start))) start += 1;
    while (end > start && isSpace(text.charAt(end - 1))) end -= 1;
    return text.slice(start, end);
  }
  // ASCII case only, as the keyword is compared.
  function asciiLower(text) {
    return text.replace(/[A-Z]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 32); });
  }

  // `<keyword> <key>` from what was entered: unchanged when it already starts with the keyword
  // followed by whitespace.
  function withKeyword(keyword, entered) {
    var value = trim(entered);
    if (value === '') return entered;
    var head = value.slice(0, keyword.length);
    if (asciiLower(head) === asciiLower(keyword) && isSpace(value.charAt(keyword.length))) {
      return value;
    }
    return keyword + ' ' + value;
  }

  // `authorize({ [scheme]: { name, schema, value }, ... })`: from the dialog and from
  // `preauthorizeApiKey`.
  function addKeywords(payload) {
    if (!payload || typeof payload !== 'object') return payload;
    var changed = null;
    Object.keys(payload).forEach(function (scheme) {
      var entry = payload[scheme];
      if (!Object.prototype.hasOwnProperty.call(keywords, scheme)) return;
      if (!entry || typeof entry !== 'object' || typeof entry.value !== 'string') return;
      var value = withKeyword(keywords[scheme], entry.value);
      if (value === entry.value) return;
      changed = changed || Object.assign({}, payload);
      changed[scheme] = Object.assign({}, entry, { value: value });
    });
    return changed || payload;
  }

  function TokenauthKeywords() {
    return {
      statePlugins: {
        auth: {
          wrapActions: {
            authorize: function (authorize) {
              return function (payload) { return authorize(addKeywords(payload)); };
            },
          },
        },
      },
    };
  }

  function SwaggerUIBundle(options) {
    var config = Object.assign({}, options);
    config.plugins = [].concat(config.plugins || [], [TokenauthKeywords]);
    return bundle(config);
  }
  // `SwaggerUIBundle.presets`, `.plugins`, … stay where scripts look for them.
  Object.keys(bundle).forEach(function (name) { SwaggerUIBundle[name] = bundle[name]; });
  window.SwaggerUIBundle = SwaggerUIBundle;
})
