% WaveNet-style causal dilated convolution: reads x_{c, i - d a} padded on
% the left only (a negative dilation coefficient), a gated activation
% tanh * sigmoid and a residual read of the input.
% test-sizes: n=9, K=2, d=2, C=2
input x_{c,j}, 0 \le c < C, 0 \le j < n
param f_{k,c,a}, 0 \le k < C, 0 \le c < C, 0 \le a < K
param g_{k,c,a}, 0 \le k < C, 0 \le c < C, 0 \le a < K
u_{k,i} = \sum_{c,a} f_{k,c,a} x_{c,i-d a}, 0 \le k < C, 0 \le i < n
v_{k,i} = \sum_{c,a} g_{k,c,a} x_{c,i-d a}, 0 \le k < C, 0 \le i < n
z_{k,i} = \tanh(u_{k,i}) \sigma(v_{k,i}) + x_{k,i}
output z
