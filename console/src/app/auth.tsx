/**
 * Who is signed in: the token (from localStorage), the API client bound to it, and the
 * way back to the login page. Any 401 from the API signs out with the server's message.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { createApi, type Api, type ApiError } from "../api/client";
import { navigate } from "./router";
import { clearToken, loadToken, saveToken } from "./session";

export interface Auth {
  api: Api | null;
  /** Why the user is on the login page (a rejected token, a sign-out); null if no reason. */
  message: string | null;
  signIn: (token: string) => void;
  signOut: (message?: string) => void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children, unauthorizedMessage }: { children: ReactNode; unauthorizedMessage: (e: ApiError) => string }) {
  const [token, setToken] = useState<string | null>(loadToken);
  const [message, setMessage] = useState<string | null>(null);

  const signOut = useCallback((why?: string) => {
    clearToken();
    setToken(null);
    setMessage(why ?? null);
    if (window.location.pathname !== "/login") navigate("/login", true);
  }, []);

  const signIn = useCallback((next: string) => {
    saveToken(next);
    setToken(next);
    setMessage(null);
  }, []);

  const api = useMemo(
    () =>
      token === null
        ? null
        : createApi({ token, onUnauthorized: (e) => signOut(unauthorizedMessage(e)) }),
    [token, signOut, unauthorizedMessage],
  );

  const value = useMemo<Auth>(() => ({ api, message, signIn, signOut }), [api, message, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const ctx = useContext(AuthContext);
  if (ctx === null) throw new Error("useAuth outside AuthProvider");
  return ctx;
}

/** The API for sections that render only when signed in. */
export function useApi(): Api {
  const { api } = useAuth();
  if (api === null) throw new Error("useApi while signed out");
  return api;
}
