% A tensor read several times in one statement, and a kernel indexed from
% -1 so the inferred output range starts at 1, not 0.
% test-sizes: n=8
input y_j, 0 \le j < n
param w_a, -1 \le a \le 1
x_i = \sum_{a} w_a y_{i+a} + y_i y_i - \sigma(y_{i-1}) y_{i+1}
E = \frac{1}{2} \sum_{i} x_i^2
output E
