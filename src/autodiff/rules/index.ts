/** Loads every gradient rule into the registry. */
import './elementwise.ts';
import './reduce.ts';
import './shape.ts';
import './linear.ts';
import './depthwise_conv.ts';
import './resize.ts';
import './pool_softmax.ts';
