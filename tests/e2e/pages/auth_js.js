// The official client in the browser, for tests/e2e/test_passkeys_browser.py: auth-js's own
// WebAuthn ceremonies (registerPasskey, signInWithPasskey, mfa.webauthn.register and
// authenticate) against gotrue-web at /auth/v1 on this page's origin. Each function answers
// {data, error} as plain JSON.
import { AuthClient } from '@supabase/auth-js'

function newClient() {
  return new AuthClient({
    url: `${location.origin}/auth/v1`, headers: { apikey: 'anon-key' },
    experimental: { passkey: true }, autoRefreshToken: false, persistSession: false,
    detectSessionInUrl: false,
  })
}

let client = newClient()
// auth-js waits the options' timeout (5 minutes) for an authenticator that never answers; a
// test gives up sooner.
const ceremonySignal = () => AbortSignal.timeout(20000)

function describe({ data, error }) {
  return {
    data: data ?? null,
    error: error ? { name: error.name, status: error.status ?? null, code: error.code ?? null,
                     message: error.message } : null,
  }
}

window.authJs = {
  // A browser that forgot its session: a new client.
  restart: () => { client = newClient() },
  signIn: async (email, password) => describe(
    await client.signInWithPassword({ email, password })),
  registerPasskey: async () => describe(
    await client.registerPasskey({ options: { signal: ceremonySignal() } })),
  signInWithPasskey: async () => describe(
    await client.signInWithPasskey({ options: { signal: ceremonySignal() } })),
  getUser: async () => describe(await client.getUser()),
  registerFactor: async (friendlyName) => describe(
    await client.mfa.webauthn.register({ friendlyName,
                                         webauthn: { signal: ceremonySignal() } })),
  authenticateFactor: async (factorId) => describe(
    await client.mfa.webauthn.authenticate({ factorId,
                                             webauthn: { signal: ceremonySignal() } })),
  assuranceLevel: async () => describe(await client.mfa.getAuthenticatorAssuranceLevel()),
}
window.authJsReady = true
