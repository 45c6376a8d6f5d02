// workerd refuses to start a Worker whose main module exports anything but handlers and Durable Object /
// entrypoint classes ("Incorrect type for map entry ... not of type 'function or ExportedHandler'"): a
// constant exported from src/index.ts broke `npm start` once while every test passed.
import { describe, it, expect } from "vitest";
import * as main from "../src/index";

describe("src/index.ts exports", () => {
  it("are only functions (classes) and handler objects", () => {
    const bad = Object.entries(main).filter(([, v]) => {
      if (typeof v === "function") return false;
      if (typeof v !== "object" || v === null) return true;
      const handlers = ["fetch", "queue", "scheduled", "tail", "trace", "email", "test"];
      return !Object.values(v as Record<string, unknown>).some((x) => typeof x === "function") || !handlers.some((h) => typeof (v as Record<string, unknown>)[h] === "function");
    });
    expect(bad.map(([k]) => k)).toEqual([]);
    expect(Object.keys(main)).toContain("default");
  });
});
