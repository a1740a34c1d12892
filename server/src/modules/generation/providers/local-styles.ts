import { createHash } from "node:crypto";

/**
 * Procedural SVG "styles" for the local renderer. Everything here is a pure function of its inputs, so the
 * same prompt, seed and index always give the same SVG and therefore the same PNG bytes.
 */
export type Rng = () => number;

/** mulberry32: tiny and good enough for art; its whole state is one 32-bit integer. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A length-prefixed encoding, so ("ab", "c") and ("a", "bc") never collide. */
export function seedFrom(parts: (string | number | null)[]): number {
  const hash = createHash("sha256");
  for (const part of parts) {
    const text = part === null ? "\u0000null" : String(part);
    hash.update(`${text.length}:${text}|`);
  }
  return hash.digest().readUInt32BE(0);
}

const HUE_WORDS: Record<string, number> = {
  red: 0,
  crimson: 350,
  rose: 345,
  pink: 330,
  magenta: 300,
  purple: 280,
  violet: 270,
  indigo: 250,
  navy: 230,
  blue: 220,
  azure: 205,
  sky: 200,
  cyan: 185,
  teal: 175,
  turquoise: 172,
  emerald: 140,
  green: 120,
  forest: 130,
  lime: 90,
  yellow: 55,
  gold: 45,
  golden: 45,
  amber: 40,
  orange: 30,
  sunset: 20,
  autumn: 28,
  ocean: 210,
};

function words(text: string | null): string[] {
  return (text ?? "").toLowerCase().match(/[a-z]+/g) ?? [];
}

/** Own keys only: prompt words such as "constructor" must not resolve to Object.prototype members. */
function huesIn(text: string | null): number[] {
  return words(text)
    .filter((word) => Object.hasOwn(HUE_WORDS, word))
    .map((word) => HUE_WORDS[word]!);
}

export interface Palette {
  colors: string[];
  dark: string;
}

/**
 * Colour words steer the palette so prompts feel heard ("a blue sea" comes out blue); hues named in the
 * negative prompt are pushed to the other side of the colour wheel.
 */
export function makePalette(rng: Rng, prompt: string, negativePrompt: string | null): Palette {
  const promptWords = words(prompt);
  const named = huesIn(prompt);
  const avoided = huesIn(negativePrompt);
  const isDark = promptWords.some((w) => ["dark", "night", "noir", "midnight", "shadow"].includes(w));
  const isSoft = promptWords.some((w) => ["pastel", "soft", "light", "pale", "dreamy"].includes(w));

  const base = named.length > 0 ? named[0]! + (rng() - 0.5) * 20 : rng() * 360;
  const harmony = [
    [0, 30, -30, 180],
    [0, 120, 240, 60],
    [0, 150, 210, 20],
    [0, 15, 35, -20],
  ][Math.floor(rng() * 4)]!;
  const saturation = isSoft ? 45 : 65 + rng() * 25;
  const lightness = isDark ? 28 : isSoft ? 78 : 52;
  const colors = harmony.map((offset, i) => {
    // Further colour words take the next palette slots ("red and gold"), harmony fills the rest.
    const wanted = i > 0 && named[i] !== undefined ? named[i]! : base + offset;
    let hue = ((wanted % 360) + 360) % 360;
    if (avoided.some((a) => hueDistance(a, hue) < 35)) hue = (hue + 180) % 360;
    return hsl(hue, saturation - i * 4, lightness + (rng() - 0.5) * 18);
  });
  return { colors, dark: hsl(base, 30, isSoft ? 35 : 10) };
}

function hueDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
}

/** Hex rather than hsl(): every SVG renderer reads it. */
function hsl(h: number, s: number, l: number): string {
  const sat = Math.min(100, Math.max(0, s)) / 100;
  const lig = Math.min(95, Math.max(5, l)) / 100;
  const k = (n: number) => (n + h / 30) % 12;
  const a = sat * Math.min(lig, 1 - lig);
  const channel = (n: number) => {
    const value = lig - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
    return Math.round(value * 255)
      .toString(16)
      .padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

const n = (value: number) => Number(value.toFixed(1));
const pick = <T>(rng: Rng, items: T[]): T => items[Math.floor(rng() * items.length)]!;

function svg(width: number, height: number, defs: string, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs>${defs}</defs>${body}</svg>`
  );
}

/** Soft blobs: radial gradients fading to transparent look blurred without an (expensive) blur filter. */
export function gradientSvg(rng: Rng, palette: Palette, width: number, height: number): string {
  const angle = rng() * Math.PI * 2;
  const [x1, y1] = [0.5 - Math.cos(angle) / 2, 0.5 - Math.sin(angle) / 2];
  let defs =
    `<linearGradient id="bg" x1="${n(x1)}" y1="${n(y1)}" x2="${n(1 - x1)}" y2="${n(1 - y1)}">` +
    palette.colors
      .slice(0, 3)
      .map((c, i) => `<stop offset="${i / 2}" stop-color="${c}"/>`)
      .join("") +
    `</linearGradient>` +
    `<radialGradient id="vignette"><stop offset="0.55" stop-color="${palette.dark}" stop-opacity="0"/>` +
    `<stop offset="1" stop-color="${palette.dark}" stop-opacity="0.45"/></radialGradient>`;
  let body = `<rect width="${width}" height="${height}" fill="url(#bg)"/>`;
  const blobs = 5 + Math.floor(rng() * 5);
  const size = Math.max(width, height);
  for (let i = 0; i < blobs; i++) {
    const color = pick(rng, palette.colors);
    defs +=
      `<radialGradient id="b${i}"><stop offset="0" stop-color="${color}" stop-opacity="${n(0.6 + rng() * 0.4)}"/>` +
      `<stop offset="1" stop-color="${color}" stop-opacity="0"/></radialGradient>`;
    const [cx, cy] = [rng() * width, rng() * height];
    const [rx, ry] = [size * (0.15 + rng() * 0.35), size * (0.15 + rng() * 0.35)];
    body +=
      `<ellipse cx="${n(cx)}" cy="${n(cy)}" rx="${n(rx)}" ry="${n(ry)}" fill="url(#b${i})" ` +
      `transform="rotate(${n(rng() * 180)} ${n(cx)} ${n(cy)})"/>`;
  }
  body += `<rect width="${width}" height="${height}" fill="url(#vignette)"/>`;
  return svg(width, height, defs, body);
}

/** Geometric tiles with a thin grout line; each tile gets one of a few motifs. */
export function mosaicSvg(rng: Rng, palette: Palette, width: number, height: number): string {
  const columns = 5 + Math.floor(rng() * 10);
  const cell = width / columns;
  const rows = Math.ceil(height / cell);
  const gap = Math.max(1, cell * 0.04);
  let body = `<rect width="${width}" height="${height}" fill="${palette.dark}"/>`;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      const [x, y, s] = [column * cell + gap / 2, row * cell + gap / 2, cell - gap];
      const [back, front] = [pick(rng, palette.colors), pick(rng, palette.colors)];
      body += `<rect x="${n(x)}" y="${n(y)}" width="${n(s)}" height="${n(s)}" fill="${back}"/>`;
      const motif = Math.floor(rng() * 4);
      if (motif === 0) {
        const flip = rng() < 0.5;
        const points = flip ? [x, y, x + s, y, x, y + s] : [x + s, y, x + s, y + s, x, y + s];
        body += `<polygon points="${points.map(n).join(" ")}" fill="${front}"/>`;
      } else if (motif === 1) {
        body += `<circle cx="${n(x + s / 2)}" cy="${n(y + s / 2)}" r="${n(s * (0.2 + rng() * 0.25))}" fill="${front}"/>`;
      } else if (motif === 2) {
        const [cx, cy] = [x + (rng() < 0.5 ? 0 : s), y + (rng() < 0.5 ? 0 : s)];
        const sweepX = cx === x ? x + s : x;
        const sweepY = cy === y ? y + s : y;
        const sweep = (cx === x) === (cy === y) ? 1 : 0;
        body +=
          `<path d="M${n(cx)} ${n(cy)} L${n(sweepX)} ${n(cy)} A${n(s)} ${n(s)} 0 0 ${sweep} ${n(cx)} ${n(sweepY)} Z" ` +
          `fill="${front}"/>`;
      }
    }
  }
  return svg(width, height, "", body);
}

export const STYLES: Record<string, (rng: Rng, palette: Palette, width: number, height: number) => string> = {
  gradient: gradientSvg,
  mosaic: mosaicSvg,
};
