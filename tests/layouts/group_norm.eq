% GroupNorm over G groups of C channels: the channel read C g + c moves
% with a reduction in the statistics (written limits) and with the
% left-hand side in the normalisation; the variance's range is inferred
% through a size coefficient (a floor of C G - C over C).
% test-sizes: G=2, C=2, n=3
input x_{m,t}, 0 \le m < G C, 0 \le t < n
\mu_g = \frac{1}{C n} \sum_{c=0}^{C-1} \sum_{t} x_{C g + c, t}, 0 \le g < G
s_g = \frac{1}{C n} \sum_{0 \le c < C} \sum_{t} (x_{C g + c, t} - \mu_g)^2
y_{g,c,t} = \frac{x_{C g + c, t} - \mu_g}{\sqrt{s_g + 0.001}}, 0 \le g < G, 0 \le c < C, 0 \le t < n
output y
