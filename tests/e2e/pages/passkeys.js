// A web app's side of the passkey and WebAuthn MFA ceremonies, for
// tests/e2e/test_passkeys_browser.py: it calls gotrue-web (mounted at /auth/v1 on this page's
// origin) with fetch and the browser's own WebAuthn API (a CDP virtual authenticator answers).
// Every function returns plain JSON: each server answer as {status, body}, the credential as
// the browser's toJSON(), or {browserError: <DOMException name>} when the browser refused.

const AUTH = '/auth/v1'
// A browser waits the options' timeout (5 minutes) for an authenticator that never answers;
// a test gives up sooner.
const CEREMONY_MS = 20000

async function api(method, path, { token, body } = {}) {
  const headers = { 'X-Supabase-Api-Version': '2024-01-01' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (token) headers.Authorization = `Bearer ${token}`
  const response = await fetch(AUTH + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null }
}

// navigator.credentials.create/get, the credential serialized as a server receives it.
async function ceremony(kind, publicKey) {
  try {
    const credential = await navigator.credentials[kind]({
      publicKey, signal: AbortSignal.timeout(CEREMONY_MS),
    })
    return { credential: credential.toJSON() }
  } catch (error) {
    return { browserError: error.name }
  }
}

async function registerPasskey(token) {
  const started = await api('POST', '/passkeys/registration/options', { token, body: {} })
  if (started.status !== 200) return { started }
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(started.body.options)
  const made = await ceremony('create', publicKey)
  if (!made.credential) return { started, ...made }
  const verified = await api('POST', '/passkeys/registration/verify', {
    token, body: { challenge_id: started.body.challenge_id, credential: made.credential },
  })
  return { started, credential: made.credential, verified }
}

// ``changes`` replace keys of the server's request options (a test asks for no user
// verification this way).
async function signInWithPasskey(changes = {}) {
  const started = await api('POST', '/passkeys/authentication/options', {
    body: { gotrue_meta_security: {} },
  })
  if (started.status !== 200) return { started }
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(
    { ...started.body.options, ...changes })
  const made = await ceremony('get', publicKey)
  if (!made.credential) return { started, ...made }
  const verified = await api('POST', '/passkeys/authentication/verify', {
    body: { challenge_id: started.body.challenge_id, credential: made.credential },
  })
  return { started, credential: made.credential, verified }
}

// One WebAuthn MFA round: challenge the factor, let the browser create (first time) or use
// (once verified) its credential, and verify.
async function factorCeremony(token, factorId) {
  const relyingParty = { rpId: location.hostname, rpOrigins: [location.origin] }
  const challenged = await api('POST', `/factors/${factorId}/challenge`, {
    token, body: { webauthn: relyingParty },
  })
  if (challenged.status !== 200) return { challenged }
  const { type, credential_options: options } = challenged.body.webauthn
  const publicKey = type === 'create'
    ? PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)
    : PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)
  const made = await ceremony(type === 'create' ? 'create' : 'get', publicKey)
  if (!made.credential) return { challenged, ...made }
  const verified = await api('POST', `/factors/${factorId}/verify`, {
    token,
    body: {
      challenge_id: challenged.body.id,
      webauthn: { type, ...relyingParty, credential_response: made.credential },
    },
  })
  return { challenged, credential: made.credential, verified }
}

window.gotrue = {
  api,
  signIn: (email, password) => api('POST', '/token?grant_type=password', {
    body: { email, password },
  }),
  registerPasskey,
  signInWithPasskey,
  factorCeremony,
}
