// The one door to the component library: Preact + hooks + htm, vendored from npm (no build step).
export { html, render, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, createContext, useContext } from '../vendor/htm-preact-standalone-3.1.1.js';
