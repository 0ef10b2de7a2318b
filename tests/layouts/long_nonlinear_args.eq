% Written-out sums of more than 8 reads in non-linear positions (a
% function's argument, a power's base, inside a reduction's body) get a
% tensor of their own, as reductions there do: otherwise every partial of
% the statement repeats the sum and the generated code grows with its
% square. The gradients must not change. (Five terms, ten reads.)
% test-sizes: n=6
input y_j, 0 \le j < n
param w_a, 0 \le a < 5
p_i = \tanh(w_{0} y_{i+0} + w_{1} y_{i+1} + w_{2} y_{i+0} + w_{3} y_{i+1} + w_{4} y_{i+0})
q_i = (w_{0} y_{i+0} + w_{1} y_{i+1} + w_{2} y_{i+0} + w_{3} y_{i+1} + w_{4} y_{i+0})^2 + \sigma(w_{0} y_{i} + w_{1} y_{i+1})
r = \sum_{i=0}^{n-2} \sigma(w_{0} y_{i+0} + w_{1} y_{i+1} + w_{2} y_{i+0} + w_{3} y_{i+1} + w_{4} y_{i+0})
output p, q, r
