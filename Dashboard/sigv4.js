// AWS Signature Version 4 in the browser, with WebCrypto (HMAC-SHA256, SHA-256): the same
// signature botocore computes (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
// WebCrypto exists only in secure contexts: https, or http on localhost/127.0.0.1.
"use strict";
(function () {
  const encoder = new TextEncoder();
  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (data) => hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data));
  async function hmac(key, text) {
    const cryptoKey = await crypto.subtle.importKey("raw", typeof key === "string" ? encoder.encode(key) : key,
      { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(text));
  }
  // RFC 3986 unreserved characters stay, everything else is %XX (upper case), as SigV4 wants.
  const uriEncode = (text, keepSlash) => Array.from(encoder.encode(text), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/") ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }).join("");
  const amzDate = (now) => now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");

  async function signingKey(secret, day, region, service) {
    let key = await hmac("AWS4" + secret, day);
    key = await hmac(key, region);
    key = await hmac(key, service);
    return hmac(key, "aws4_request");
  }

  // Signs a request; returns the headers to send with it (Host is the browser's own, location.host).
  async function sign({ method, path, query = "", headers, body, credentials, service }) {
    const now = amzDate(new Date());
    const day = now.slice(0, 8);
    const all = { ...headers, host: location.host, "x-amz-date": now };
    const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
    const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
    const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join("");
    const signedHeaders = names.join(";");
    const payloadHash = await sha256(body || "");
    const canonical = [method, path, query, canonicalHeaders, signedHeaders, payloadHash].join("\n");
    const scope = `${day}/${credentials.region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", now, scope, await sha256(canonical)].join("\n");
    const signature = hex(await hmac(await signingKey(credentials.secretAccessKey, day, credentials.region, service), toSign));
    const out = { ...headers, "X-Amz-Date": now };
    out.Authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return out;
  }

  // A presigned GET URL (query-string SigV4, UNSIGNED-PAYLOAD), for artifact download links.
  async function presign({ path, credentials, service = "s3", expires = 3600 }) {
    const now = amzDate(new Date());
    const day = now.slice(0, 8);
    const scope = `${day}/${credentials.region}/${service}/aws4_request`;
    const params = {
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": `${credentials.accessKeyId}/${scope}`,
      "X-Amz-Date": now, "X-Amz-Expires": String(expires), "X-Amz-SignedHeaders": "host",
    };
    const query = Object.keys(params).sort().map((k) => `${uriEncode(k)}=${uriEncode(params[k])}`).join("&");
    const canonicalPath = uriEncode(path, true);
    const canonical = ["GET", canonicalPath, query, `host:${location.host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
    const toSign = ["AWS4-HMAC-SHA256", now, scope, await sha256(canonical)].join("\n");
    const signature = hex(await hmac(await signingKey(credentials.secretAccessKey, day, credentials.region, service), toSign));
    return `${canonicalPath}?${query}&X-Amz-Signature=${signature}`;
  }

  window.SigV4 = { sign, presign, uriEncode };
})();
