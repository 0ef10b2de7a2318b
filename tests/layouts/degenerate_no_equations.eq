% A declaration and no equation: no values, no outputs, no seeds. The
% generated forward and backward do nothing and must not warn about
% `values` or `seeds`.
input y_i, 0 \le i < n
