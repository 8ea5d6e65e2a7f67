import type { LabelName } from '@preroll/layout';

/**
 * The 80 COCO classes in the order of the detector's class index (0-based), as the MB3-CenterNet
 * model emits them.
 */
export const COCO_CLASSES: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
  'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
  'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
];

const ANIMALS = new Set(['bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe']);
const VEHICLES = new Set(['bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat']);
/**
 * Things that move through a scene by themselves or are carried or thrown: kept as `other`.
 * Furniture, food, tableware and appliances are the scene, not what moved, and a detector that
 * finds a cup on a table must not turn a shadow into a labelled event: they are not kept.
 */
const OTHER_MOVERS = new Set(['backpack', 'umbrella', 'handbag', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'skateboard', 'surfboard']);

/**
 * The taxonomy label of a COCO class: `person`, `animal` (the ten COCO animals), `vehicle`
 * (the eight COCO vehicles), `other` (carried or thrown things), or null for classes that are
 * part of the scene and never label an event. Pure.
 */
export function taxonomyOf(cocoClass: string): LabelName | null {
  if (cocoClass === 'person') return 'person';
  if (ANIMALS.has(cocoClass)) return 'animal';
  if (VEHICLES.has(cocoClass)) return 'vehicle';
  if (OTHER_MOVERS.has(cocoClass)) return 'other';
  return null;
}

/** Every COCO class an event can be labelled with (the sub-labels the API filter accepts). */
export const KEPT_SUB_LABELS: readonly string[] = COCO_CLASSES.filter((c) => taxonomyOf(c) !== null);
