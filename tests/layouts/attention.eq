% Scaled dot-product attention with an additive mask and a relative
% position bias B_{i-j+S-1} (two left-hand indices, opposite signs):
% scores, a row softmax whose denominator becomes an auxiliary, and a
% weighted sum of values; 1/\sqrt{d} uses a size as a number.
% test-sizes: T=3, S=4, d=2
input Q_{i,c}, 0 \le i < T, 0 \le c < d
input K_{j,c}, 0 \le j < S, 0 \le c < d
input V_{j,c}, 0 \le j < S, 0 \le c < d
const M_{i,j}, 0 \le i < T, 0 \le j < S
param B_r, 0 \le r < T + S - 1
s_{i,j} = \frac{1}{\sqrt{d}} \sum_c Q_{i,c} K_{j,c} + M_{i,j} + B_{i-j+S-1}
a_{i,j} = \frac{\exp(s_{i,j})}{\sum_{l} \exp(s_{i,l})}
o_{i,c} = \sum_j a_{i,j} V_{j,c}
output o
